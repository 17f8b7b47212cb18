/* CUDA analog reads: forward (W x), backward (W^T d) and transfer reads of
 * every tile in one launch, one block per (tile, group of up to 8 samples)
 * so that each load of W serves the whole group, bound management included
 * (the block repeats its passes for the samples that need them; the host
 * never waits). */
#include <stdlib.h>

#include "kernels/cuda/cuda_read.cuh"

/* Inputs of a block's group staged in shared memory up to this size
 * (8 samples of 1024 inputs), else in global scratch: with 4 blocks per SM
 * (AIMC_HOT_KERNEL) that is 128 KiB of sm_90's 228 KiB. */
#define AIMC_READ_SMEM_BYTES (32 * 1024)

/* One block per (tile, group of S samples); the staged inputs in dynamic
 * shared memory, or in `scratch` (S * n_in floats per block) when it is
 * not NULL. */
template <int S>
__global__ void AIMC_HOT_KERNEL mvm_kernel(aimc_state_t st, aimc_mvm_args_t a,
                                           aimc_tile_stats_t *stats, float *scratch) {
  AIMC_DYNAMIC_SHARED(float, staged);
  __shared__ aimc_read_job_t job;
  int transposed = a.dir == AIMC_BACKWARD || a.dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? st.rows : st.cols, groups = (a.batch + S - 1) / S;
  /* the item loop's counter in shared memory too: a register held through
   * the read would cost one of the budget */
  if (threadIdx.x == 0) job.item = blockIdx.x;
  for (;;) {
    __syncthreads(); /* the previous read is done with job; job.item is set */
    if (job.item >= (uint64_t)st.n_tiles * (uint64_t)groups) break;
    if (threadIdx.x == 0) { /* the item's read, in shared memory (register budget) */
      int64_t t = (int64_t)(job.item / (uint64_t)groups);
      int64_t b0 = (int64_t)(job.item % (uint64_t)groups) * S;
      int64_t n_out = transposed ? st.cols : st.rows;
      job.tp = &st.params[t];
      job.w = st.w + t * st.rows * st.cols;
      job.in = a.in + t * a.in_tile_stride + b0 * n_in;
      job.out = a.out + (t * a.batch + b0) * n_out;
      job.v = scratch ? scratch + (uint64_t)blockIdx.x * (uint64_t)(S * n_in) : staged;
      job.call = a.call;
      job.rows = st.rows;
      job.cols = st.cols;
      job.batch = a.batch;
      job.b0 = b0;
      job.dir = a.dir;
      job.ns = (int32_t)(a.batch - b0 < S ? a.batch - b0 : S);
      job.tile = t;
      aimc_read_job_derive(&job);
    }
    __syncthreads();
    aimc_block_read_job<S>(job);
    if (threadIdx.x == 0) {
      if (a.dir == AIMC_FORWARD) {
        aimc_count(&stats[job.tile].forward_passes, job.made);
        aimc_count(&stats[job.tile].forward_samples, (uint64_t)job.ns);
      }
      job.item += gridDim.x;
    }
  }
}

/* Samples per block: AIMC_READ_GROUP (fewer for small batches), or
 * AIMC_CUDA_READ_GROUP = 1, 2, 4 or 8 (benchmarks compare them). */
static int read_group(int64_t batch) {
  static int forced = -1;
  if (forced < 0) {
    const char *e = getenv("AIMC_CUDA_READ_GROUP");
    int v = e ? atoi(e) : 0;
    forced = v == 1 || v == 2 || v == 4 || v == 8 ? v : 0;
  }
  if (forced) return forced;
  int g = 1;
  while (g < AIMC_READ_GROUP && g < batch) g *= 2;
  return g;
}

aimc_status_t aimc_cuda_mvm(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                            aimc_tile_stats_t *stats) {
  /* the fast read mode: cuBLAS products (cuda_fast_read.cu) */
  if (ctx->read_mode != AIMC_READ_EXACT && aimc_cuda_fast_read_eligible(st, a))
    return aimc_cuda_fast_read(ctx, st, a, stats);
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  int transposed = a->dir == AIMC_BACKWARD || a->dir == AIMC_TRANSFER_BACKWARD;
  uint64_t n_in = (uint64_t)(transposed ? st->rows : st->cols);
  int S = read_group(a->batch);
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)((a->batch + S - 1) / S);
  /* enough blocks to fill the GPU several times over, scratch at most 256 MiB */
  uint64_t blocks = (uint64_t)aimc_cu(ctx)->sm_count * 16u;
  size_t staged = (size_t)S * n_in * sizeof(float);
  float *scratch = NULL;
  if (staged > AIMC_READ_SMEM_BYTES) {
    uint64_t by_memory = ((uint64_t)256 << 20) / (uint64_t)staged;
    if (blocks > by_memory) blocks = by_memory;
  }
  if (blocks > items) blocks = items;
  if (blocks < 1) blocks = 1;
  if (staged > AIMC_READ_SMEM_BYTES) {
    s = aimc_cuda_workspace(ctx, (size_t)blocks * staged, (void **)&scratch);
    if (s != AIMC_OK) return s;
  }
  size_t smem = scratch ? 0 : staged;
  unsigned threads = aimc_read_threads(transposed, st->rows, st->cols);
  cudaStream_t stream = aimc_stream(ctx);
  switch (S) {
    case 1:
      AIMC_LAUNCH(mvm_kernel<1>, (unsigned)blocks, threads, smem, stream)(*st, *a, stats, scratch);
      break;
    case 2:
      AIMC_LAUNCH(mvm_kernel<2>, (unsigned)blocks, threads, smem, stream)(*st, *a, stats, scratch);
      break;
    case 4:
      AIMC_LAUNCH(mvm_kernel<4>, (unsigned)blocks, threads, smem, stream)(*st, *a, stats, scratch);
      break;
    default:
      AIMC_LAUNCH(mvm_kernel<8>, (unsigned)blocks, threads, smem, stream)(*st, *a, stats, scratch);
      break;
  }
  return aimc_cuda_launched(ctx, "mvm_kernel");
}
