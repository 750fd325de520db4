"""What a C++ program does in one line per matrix, simulated: the course's GEMM test
(alpha 2, beta 5) dumps A, B, C before (C0) and C after one call, as Armadillo writes them
(`M.save("A.bin", arma::arma_binary)`, column-major with a header) and as headerless raw
little-endian binary (`fwrite(M, sizeof(float), m * n, f)` of the column-major buffer).

    python write_dump.py OUT [--bug]
    oraclenet check gemm --files OUT/A.bin OUT/B.bin OUT/C0.bin OUT/C.bin --alpha 2 --beta 5
    oraclenet check gemm --files OUT/A.raw OUT/B.raw OUT/C0.raw OUT/C.raw --alpha 2 --beta 5 \
        --raw float32 --shape 100,37,784 --order F

--bug is the C++ kernel's classic edge bug (`row < M - 1` where it means `row < M`): the last
row of C is left as it was.
"""

import argparse
from pathlib import Path

import numpy as np

M, N, K = 100, 37, 784  # one hidden layer's product, with a ragged batch
ALPHA, BETA = 2.0, 5.0


def arma_binary(path: Path, matrix: np.ndarray) -> None:
    """Armadillo's arma_binary: a text header (type, rows, columns), then the column-major
    data."""
    header = f"ARMA_MAT_BIN_FN{matrix.dtype.itemsize:03d}\n{matrix.shape[0]} {matrix.shape[1]}\n"
    path.write_bytes(header.encode() + matrix.tobytes(order="F"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--bug", action="store_true", help="leave C's last row unwritten")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    A = rng.random((M, K), dtype=np.float32)  # pixel-like, non-negative
    B = rng.standard_normal((K, N), dtype=np.float32)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    C = ALPHA * (A @ B) + BETA * C0  # float32 throughout, as the C++ kernel computes it
    if args.bug:
        C[-1] = C0[-1]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, matrix in (("A", A), ("B", B), ("C0", C0), ("C", C)):
        arma_binary(args.out / f"{name}.bin", matrix)
        (args.out / f"{name}.raw").write_bytes(matrix.astype("<f4").tobytes(order="F"))


if __name__ == "__main__":
    main()
