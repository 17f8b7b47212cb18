/* The cuBLAS stand-in of the CUDA emulation (cublas_v2.h says what and why). */
#include "cublas_v2.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

struct aimc_emu_cublas {
  cublasMath_t math;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = static_cast<cublasHandle_t>(std::calloc(1, sizeof(aimc_emu_cublas)));
  return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  std::free(handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t) {
  return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

/* f rounded to TF32: 10 explicit mantissa bits, to nearest even (finite f). */
static float to_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;
  u = u + 0x0fffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/* Element (i, j) of op(X), X column-major with leading dimension ld. */
static float op_at(const float *x, int ld, cublasOperation_t op, int i, int j) {
  return op == CUBLAS_OP_N ? x[(int64_t)j * ld + i] : x[(int64_t)i * ld + j];
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C, int ldc,
                                         long long strideC, int batchCount) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0 || ldc < (m > 1 ? m : 1))
    return CUBLAS_STATUS_INVALID_VALUE;
  int tf32 = handle->math == CUBLAS_TF32_TENSOR_OP_MATH;
  for (int b = 0; b < batchCount; ++b) {
    const float *a = A + b * strideA, *bb = B + b * strideB;
    float *c = C + b * strideC;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        float acc = 0.0f;
        for (int l = k - 1; l >= 0; --l) { /* backwards, fused: not the exact order */
          float x = op_at(a, lda, transa, i, l), y = op_at(bb, ldb, transb, l, j);
          if (tf32) {
            x = to_tf32(x);
            y = to_tf32(y);
          }
          acc = std::fmaf(x, y, acc);
        }
        float *out = &c[(int64_t)j * ldc + i];
        *out = *beta == 0.0f ? *alpha * acc : *alpha * acc + *beta * *out;
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}
