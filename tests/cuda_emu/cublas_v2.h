/* A CPU stand-in for the part of cuBLAS that the fast read mode uses
 * (kernels/cuda/cuda_fast_read.cu), for the CUDA emulation: found before the
 * toolkit's header on the emulation's include path.
 *
 * cublasSgemmStridedBatched computes what cuBLAS computes (column-major,
 * op(A) op(B), alpha and beta) but deliberately NOT in the exact read's order:
 * each sum runs backwards over k with fused multiply-adds (fmaf), as a GPU
 * GEMM's other order and FMA contraction would, so the tests see a real
 * rounding difference between the modes and check it against the stated
 * bound. Under CUBLAS_TF32_TENSOR_OP_MATH the operands are first rounded to
 * TF32 (10 mantissa bits, to nearest even), as the tensor cores do. */
#ifndef AIMC_CUDA_EMU_CUBLAS_V2_H
#define AIMC_CUDA_EMU_CUBLAS_V2_H

#include "cuda_runtime.h"

typedef enum cublasStatus {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7
} cublasStatus_t;
typedef enum cublasOperation { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum cublasMath {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3
} cublasMath_t;
typedef struct aimc_emu_cublas *cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C, int ldc,
                                         long long strideC, int batchCount);

#endif
