"""Someone else's trainer, written without oraclenet: the two-layer network of SPEC section 1
in float32 numpy, trained by plain SGD on batches taken in order, the last one partial. It
writes its run as `oraclenet check run` reads it (any language can write these files):

    run.json          the settings: data, batch, lr, reg, dtype (and hidden, seed)
    data.npz          X (784 x N) and labels (N): the training set in the order it was used
    params-0000.npz   W1, b1, W2, b2 at the start; params-0001.npz after step 1; ...

    python trainer.py OUT [--bug-at-step 3]
    oraclenet check run OUT --report OUT/report

--bug-at-step S plants a bug in that one step: db2 is summed without dividing by the batch
size, the slip of a hand-written backprop. --reverse-hidden computes the hidden units in
reverse order, a harmless change (every sum over them in another order) for
`oraclenet regress check --run`.
"""

import argparse
import json
from pathlib import Path

import numpy as np

HIDDEN, BATCH, LR, REG, IMAGES, EPOCHS = 32, 50, 0.5, 1e-3, 230, 2
f32 = np.float32


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))  # no overflow for large |z|


def softmax(z):
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


def step(W1, b1, W2, b2, X, Y, buggy=False, reverse=False):
    if reverse:
        W1n, b1n, W2n, b2n = step(W1[::-1], b1[::-1], W2[:, ::-1], b2, X, Y, buggy)
        return W1n[::-1], b1n[::-1], W2n[:, ::-1], b2n
    N = X.shape[1]
    a1 = sigmoid(W1 @ X + b1)
    yhat = softmax(W2 @ a1 + b2)
    dz2 = (yhat - Y) / f32(N)
    dW2 = dz2 @ a1.T + f32(REG) * W2
    db2 = dz2.sum(axis=1, keepdims=True) * (N if buggy else 1)
    dz1 = (W2.T @ dz2) * a1 * (1 - a1)
    dW1 = dz1 @ X.T + f32(REG) * W1
    db1 = dz1.sum(axis=1, keepdims=True)
    lr = f32(LR)
    return W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2


def main() -> None:
    parser = argparse.ArgumentParser(description="an outside float32 trainer that dumps its run")
    parser.add_argument("out", type=Path)
    parser.add_argument("--bug-at-step", type=int, default=0)
    parser.add_argument("--reverse-hidden", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    # stand-in digits: pixel-like images in [0, 1] whose class moves a block of pixels
    labels = rng.integers(0, 10, IMAGES)
    X = (rng.random((784, IMAGES)) * 0.3).astype(f32)
    for i, label in enumerate(labels):
        X[label * 78:(label + 1) * 78, i] += f32(0.7)
    Y = np.eye(10, dtype=f32)[:, labels]
    W1 = (0.1 * rng.standard_normal((HIDDEN, 784))).astype(f32)
    b1 = np.zeros((HIDDEN, 1), f32)
    W2 = (0.1 * rng.standard_normal((10, HIDDEN))).astype(f32)
    b2 = np.zeros((10, 1), f32)

    args.out.mkdir(parents=True)
    (args.out / "run.json").write_text(json.dumps({
        "data": "data.npz", "hidden": HIDDEN, "batch": BATCH, "lr": LR, "reg": REG,
        "dtype": "float32", "trainer": "examples/outside_trainer"}))
    np.savez(args.out / "data.npz", X=X, labels=labels)
    np.savez(args.out / "params-0000.npz", W1=W1, b1=b1, W2=W2, b2=b2)
    k = 0
    for _ in range(EPOCHS):
        for start in range(0, IMAGES, BATCH):
            k += 1
            cols = slice(start, start + BATCH)
            W1, b1, W2, b2 = step(W1, b1, W2, b2, X[:, cols], Y[:, cols],
                                  buggy=k == args.bug_at_step, reverse=args.reverse_hidden)
            W1, b1, W2, b2 = (np.ascontiguousarray(a) for a in (W1, b1, W2, b2))
            np.savez(args.out / f"params-{k:04d}.npz", W1=W1, b1=b1, W2=W2, b2=b2)


if __name__ == "__main__":
    main()
