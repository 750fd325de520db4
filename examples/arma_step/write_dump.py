"""What a C++ trainer with Armadillo leaves behind for one SGD step, written here in numpy so
that the example needs no compiler: each matrix saved as `M.save("W0.mat", arma::raw_ascii)`
writes it (numbers separated by blanks, one row per line, no header, despite the suffix),
named as the course's C++ code names its layers (W0 b0 W1 b1, counting from 0):

    before/W0.mat b0.mat W1.mat b1.mat   the parameters before the step
    after/ ...                           after it
    batch/X.mat Y.mat                    the batch: X 784 x N, Y 10 x N one-hot

    python write_dump.py good              # a correct step, lr 0.5, lambda 0.01
    python write_dump.py bad --bug         # the same step with the L2 term left out of dW0

The network (SPEC): z1 = W0 X + b0, a1 = sigmoid(z1), yhat = softmax(W1 a1 + b1); the loss
is the batch mean of the cross entropy plus lambda/2 (|W0|^2 + |W1|^2).
"""

import argparse
from pathlib import Path

import numpy as np

H, N, LR, LAMBDA = 32, 50, 0.5, 0.01


def save_raw_ascii(path: Path, M: np.ndarray) -> None:
    """Armadillo's raw_ascii: each element as ' %.16e' (a leading blank), a row per line."""
    path.write_text("".join("".join(f" {x:.16e}" for x in row) + "\n"
                            for row in np.atleast_2d(M)))


def step(W0, b0, W1, b1, X, Y, bug: bool):
    a1 = 1 / (1 + np.exp(-(W0 @ X + b0)))
    z2 = W1 @ a1 + b1
    yhat = np.exp(z2 - z2.max(axis=0))
    yhat /= yhat.sum(axis=0)
    dz2 = (yhat - Y) / X.shape[1]
    dz1 = (W1.T @ dz2) * a1 * (1 - a1)
    dW0 = dz1 @ X.T + (0 if bug else LAMBDA) * W0
    dW1 = dz2 @ a1.T + LAMBDA * W1
    return (W0 - LR * dW0, b0 - LR * dz1.sum(axis=1, keepdims=True), W1 - LR * dW1,
            b1 - LR * dz2.sum(axis=1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--bug", action="store_true", help="leave the L2 term out of dW0")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    W0, b0 = rng.normal(0, 784 ** -0.5, (H, 784)), np.zeros((H, 1))
    W1, b1 = rng.normal(0, H ** -0.5, (10, H)), np.zeros((10, 1))
    X = rng.random((784, N))
    Y = np.eye(10)[:, rng.integers(0, 10, N)]
    after = step(W0, b0, W1, b1, X, Y, args.bug)
    for folder, blocks in (("before", (W0, b0, W1, b1)), ("after", after)):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
        for name, M in zip(("W0", "b0", "W1", "b1"), blocks, strict=True):
            save_raw_ascii(args.out / folder / f"{name}.mat", M)
    (args.out / "batch").mkdir(exist_ok=True)
    save_raw_ascii(args.out / "batch" / "X.mat", X)
    save_raw_ascii(args.out / "batch" / "Y.mat", Y)


if __name__ == "__main__":
    main()
