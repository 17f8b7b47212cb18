/* The non-finite policy's data scans on the GPU, the twin of
 * kernels/cpu/cpu_check.c: a grid of blocks reduces its share to a first
 * bad index (min) and a max|v|, one block reduces the blocks' results, and
 * one 16-byte copy brings them to the host: the only host synchronisation
 * of a check. Min and max are order-independent: the CPU's results. */
#include "kernels/common/hd.h"
#include "kernels/cuda/cuda_common.cuh"

#define SCAN_BLOCKS_MAX 1024u

/* Block-wide min of 64-bit indices; `red` holds 32 values of shared memory.
 * Every thread gets the result. */
__device__ static inline uint64_t block_min_index(uint64_t v, uint64_t *red) {
  for (int o = 16; o > 0; o >>= 1) {
    uint64_t w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w < v ? w : v;
  }
  unsigned warp = threadIdx.x >> 5, lane = threadIdx.x & 31u, n_warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < n_warps ? red[lane] : ~(uint64_t)0;
  for (int o = 16; o > 0; o >>= 1) {
    uint64_t w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w < v ? w : v;
  }
  return v;
}

/* One block's share: labels == NULL scans floats, else labels. */
__global__ void scan_kernel(const float *v, const int32_t *labels, int32_t classes, int64_t len,
                            int64_t stride, uint64_t n, uint64_t *block_bad, float *block_max) {
  __shared__ uint64_t red_i[32];
  __shared__ float red_f[32];
  uint64_t first = ~(uint64_t)0;
  float mx = 0.0f;
  AIMC_GRID_LOOP(e, n) {
    if (labels) {
      int32_t l = labels[e];
      if ((l < 0 || l >= classes) && e < first) first = e;
    } else {
      int64_t r = (int64_t)(e / (uint64_t)len), i = (int64_t)(e % (uint64_t)len);
      float a = aimc_absf(v[r * stride + i]);
      if (!(a <= 3.40282347e38f)) {
        if (e < first) first = e;
      } else if (a > mx) {
        mx = a;
      }
    }
  }
  first = block_min_index(first, red_i);
  mx = aimc_block_max(mx, red_f);
  if (threadIdx.x == 0) {
    block_bad[blockIdx.x] = first;
    block_max[blockIdx.x] = mx;
  }
}

/* The blocks' results into out[0] (index) and out[1] (max bits). */
__global__ void scan_final_kernel(const uint64_t *block_bad, const float *block_max,
                                  unsigned blocks, uint64_t *out) {
  __shared__ uint64_t red_i[32];
  __shared__ float red_f[32];
  uint64_t first = ~(uint64_t)0;
  float mx = 0.0f;
  for (unsigned b = threadIdx.x; b < blocks; b += blockDim.x) {
    first = block_bad[b] < first ? block_bad[b] : first;
    mx = block_max[b] > mx ? block_max[b] : mx;
  }
  first = block_min_index(first, red_i);
  mx = aimc_block_max(mx, red_f);
  if (threadIdx.x == 0) {
    out[0] = first;
    out[1] = (uint64_t)aimc_float_bits(mx);
  }
}

static aimc_status_t scan(aimc_context_t *ctx, const float *v, const int32_t *labels,
                          int32_t classes, int64_t len, int64_t stride, uint64_t n,
                          int64_t *bad, float *max_abs) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  unsigned blocks = aimc_blocks(ctx, n, AIMC_THREADS);
  if (blocks > SCAN_BLOCKS_MAX) blocks = SCAN_BLOCKS_MAX;
  aimc_carver_t c = {NULL, 0};
  aimc_carve(&c, blocks * sizeof(uint64_t));
  aimc_carve(&c, blocks * sizeof(float));
  aimc_carve(&c, 2 * sizeof(uint64_t));
  void *work = NULL;
  if ((s = aimc_cuda_workspace(ctx, c.used, &work)) != AIMC_OK) return s;
  c.base = (char *)work;
  c.used = 0;
  uint64_t *block_bad = (uint64_t *)aimc_carve(&c, blocks * sizeof(uint64_t));
  float *block_max = (float *)aimc_carve(&c, blocks * sizeof(float));
  uint64_t *out = (uint64_t *)aimc_carve(&c, 2 * sizeof(uint64_t));
  AIMC_LAUNCH(scan_kernel, blocks, AIMC_THREADS, 0, aimc_stream(ctx))(
      v, labels, classes, len, stride, n, block_bad, block_max);
  if ((s = aimc_cuda_launched(ctx, "scan_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH(scan_final_kernel, 1, AIMC_THREADS, 0, aimc_stream(ctx))(block_bad, block_max,
                                                                      blocks, out);
  if ((s = aimc_cuda_launched(ctx, "scan_final_kernel")) != AIMC_OK) return s;
  uint64_t host[2];
  if ((s = aimc_cuda_copy(ctx, host, out, sizeof host, AIMC_COPY_CONTEXT_TO_HOST)) != AIMC_OK)
    return s;
  *bad = host[0] < n ? (int64_t)host[0] : -1;
  if (max_abs) *max_abs = aimc_bits_float((uint32_t)host[1]);
  return AIMC_OK;
}

aimc_status_t aimc_cuda_scan_finite(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                                    int64_t stride, int64_t *bad, float *max_abs) {
  return scan(ctx, v, NULL, 0, len, stride, (uint64_t)rows * (uint64_t)len, bad, max_abs);
}

aimc_status_t aimc_cuda_scan_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                    int32_t classes, int64_t *bad) {
  return scan(ctx, NULL, labels, classes, 1, 1, (uint64_t)n, bad, NULL);
}
