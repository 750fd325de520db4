/* The course's GEMM in C, as a student writes it before porting it to CUDA:
 * C := alpha A B + beta C, column-major, double precision. Build a shared library with
 *
 *     cc -O2 -shared -fPIC -o libmygemm.so mygemm.c
 *
 * and judge it through its C ABI:
 *
 *     oraclenet check gemm --impl ./libmygemm.so:myGEMM --abi course
 */

#define AT(X, i, j, ld) X[(i) + (long)(j) * (ld)]

/* Correct. When beta is 0, C is not read (BLAS: it may hold anything, NaN too). */
int myGEMM(double *A, double *B, double *C, double *alpha, double *beta, int M, int N, int K) {
    for (int j = 0; j < N; j++)
        for (int i = 0; i < M; i++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += AT(A, i, k, M) * AT(B, k, j, K);
            AT(C, i, j, M) = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * AT(C, i, j, M);
        }
    return 0;
}

/* The planted bug: a float accumulator in a double GEMM (the habit of GPU code), so every
 * sum keeps about 24 significant bits instead of 53. */
int myGEMM_float_acc(double *A, double *B, double *C, double *alpha, double *beta, int M, int N,
                     int K) {
    for (int j = 0; j < N; j++)
        for (int i = 0; i < M; i++) {
            float acc = 0;
            for (int k = 0; k < K; k++)
                acc += AT(A, i, k, M) * AT(B, k, j, K);
            AT(C, i, j, M) = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * AT(C, i, j, M);
        }
    return 0;
}
