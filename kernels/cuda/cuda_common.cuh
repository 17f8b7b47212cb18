/* What the CUDA kernels share: the backend's per-context state, error
 * reporting, the workspace, launch geometry and block reductions. */
#ifndef AIMC_CUDA_COMMON_CUH
#define AIMC_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include "kernels/cuda/cuda.h"

/* Launches are written through these macros so that the CPU emulation of
 * the CUDA runtime (tests/cuda_emu/, whose cuda_runtime.h defines them
 * its own way) can run the same kernels on threads. */
#if !defined(AIMC_CUDA_EMULATION)
#define AIMC_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define AIMC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
/* Loop unrolling for nvcc (the emulation's C++ compiler has no such pragma). */
#if defined(AIMC_CUDA_EMULATION)
#define AIMC_UNROLL(n)
#else
#define AIMC_PRAGMA(x) _Pragma(#x)
#define AIMC_UNROLL(n) AIMC_PRAGMA(unroll n)
#endif
/* The common case: one thread per item of n on the context's stream. */
#define AIMC_LAUNCH_N(kernel, ctx, n) \
  AIMC_LAUNCH(kernel, aimc_blocks(ctx, n, AIMC_THREADS), AIMC_THREADS, 0, aimc_stream(ctx))

typedef struct aimc_cuda_ctx {
  int device;
  int sm_count;
  cudaStream_t own;    /* created with the context */
  cudaStream_t stream; /* where work goes: own, or the caller's */
  void *work;          /* scratch of the operation in flight (stream-ordered reuse) */
  size_t work_bytes;
  void *blas;          /* cublasHandle_t of the fast read mode, created on first use */
} aimc_cuda_ctx_t;

static inline aimc_cuda_ctx_t *aimc_cu(const aimc_context_t *ctx) {
  return (aimc_cuda_ctx_t *)ctx->backend_data;
}
static inline cudaStream_t aimc_stream(const aimc_context_t *ctx) { return aimc_cu(ctx)->stream; }

/* A CUDA error as an aimc status with a message naming what failed:
 * allocation failures are AIMC_ERR_OUT_OF_MEMORY, the rest AIMC_ERR_BACKEND. */
aimc_status_t aimc_cuda_fail(aimc_context_t *ctx, cudaError_t e, const char *what);
/* Makes the context's GPU current (every operation starts with it). */
aimc_status_t aimc_cuda_begin(aimc_context_t *ctx);
/* The launch error of the kernel just queued, if any. */
aimc_status_t aimc_cuda_launched(aimc_context_t *ctx, const char *kernel);
/* Scratch of at least `bytes`, valid until the next operation's call. */
aimc_status_t aimc_cuda_workspace(aimc_context_t *ctx, size_t bytes, void **out);

/* The fast read mode (cuda_fast_read.cu): whether a read can take it, the
 * read, and the release of its cuBLAS handle with the context. */
int aimc_cuda_fast_read_eligible(const aimc_state_t *st, const aimc_mvm_args_t *a);
aimc_status_t aimc_cuda_fast_read(aimc_context_t *ctx, const aimc_state_t *st,
                                  const aimc_mvm_args_t *a, aimc_tile_stats_t *stats);
void aimc_cuda_fast_read_release(aimc_cuda_ctx_t *c);

/* Carves aligned pieces out of a workspace: first with p = NULL to count the
 * bytes, then with the workspace to hand them out. */
typedef struct aimc_carver {
  char *base;
  size_t used;
} aimc_carver_t;
static inline void *aimc_carve(aimc_carver_t *c, size_t bytes) {
  size_t at = (c->used + 255u) & ~(size_t)255u;
  c->used = at + bytes;
  return c->base ? c->base + at : NULL;
}

/* Blocks for a grid-stride loop over n items with `threads` per block. */
static inline unsigned aimc_blocks(const aimc_context_t *ctx, uint64_t n, unsigned threads) {
  uint64_t want = (n + threads - 1) / threads;
  uint64_t cap = (uint64_t)aimc_cu(ctx)->sm_count * 32u;
  if (want > cap) want = cap;
  return want < 1 ? 1u : (unsigned)want;
}
/* Blocks for a loop with one block per item (at most 2^31 - 1 at once). */
static inline unsigned aimc_item_blocks(uint64_t n) {
  return n > 0x7fffffffu ? 0x7fffffffu : (n < 1 ? 1u : (unsigned)n);
}

#define AIMC_THREADS 256

/* The register budget of the hot kernels (pulsed update, reads): blocks of
 * at most AIMC_THREADS threads, AIMC_HOT_BLOCKS of them resident per SM.
 * sm_90 has 65536 registers and 64 warps per SM, so 4 blocks of 256 threads
 * = 32 warps (50% theoretical occupancy) leave 65536 / 1024 = 64 registers
 * per thread; ptxas must fit the kernel in that without spilling
 * (tests/check_ptxas.sh fails the build's tests when it does not). */
#define AIMC_HOT_BLOCKS 4
#define AIMC_HOT_KERNEL __launch_bounds__(AIMC_THREADS, AIMC_HOT_BLOCKS)

#define AIMC_GRID_LOOP(k, n)                                                  \
  for (uint64_t k = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; k < (n); \
       k += (uint64_t)gridDim.x * blockDim.x)
#define AIMC_BLOCK_LOOP(item, n) for (uint64_t item = blockIdx.x; item < (n); item += gridDim.x)

/* Block-wide max of non-negative floats (order-independent, so any tree
 * gives the CPU's sequential result); `red` holds 32 floats of shared
 * memory. Every thread gets the result. */
__device__ static inline float aimc_block_max(float v, float *red) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  unsigned warp = threadIdx.x >> 5, lane = threadIdx.x & 31u, n_warps = (blockDim.x + 31) >> 5;
  __syncthreads(); /* red may still be read by a previous reduction */
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < n_warps ? red[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Block-wide sum of per-thread counts (exact in any order); every thread
 * of the block must call it; `red` holds 32 values of shared memory.
 * Thread 0 gets the total. */
__device__ static inline uint64_t aimc_block_sum(uint64_t v, uint64_t *red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  unsigned warp = threadIdx.x >> 5, lane = threadIdx.x & 31u, n_warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < n_warps ? red[lane] : 0u;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* Adds v to a 64-bit counter of the statistics (skipping zeros). */
__device__ static inline void aimc_count(uint64_t *counter, uint64_t v) {
  if (v) atomicAdd((unsigned long long *)counter, (unsigned long long)v);
}

#endif
