/* CUDA analog reads: forward (W x), backward (W^T d) and transfer reads of
 * every tile in one launch, one block per (tile, group of up to 8 samples)
 * so that each load of W serves the whole group, bound management included
 * (the block repeats its passes for the samples that need them; the host
 * never waits). */
#include <stdlib.h>

#include "kernels/cuda/cuda_read.cuh"

/* One block per (tile, group of S samples). */
template <int S>
__global__ void mvm_kernel(aimc_state_t st, aimc_mvm_args_t a, aimc_tile_stats_t *stats,
                           float *scratch) {
  int transposed = a.dir == AIMC_BACKWARD || a.dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? st.rows : st.cols, n_out = transposed ? st.cols : st.rows;
  int64_t per_tile = (int64_t)st.rows * st.cols, groups = (a.batch + S - 1) / S;
  float *v = scratch + (uint64_t)blockIdx.x * (uint64_t)(S * n_in);
  AIMC_BLOCK_LOOP(item, (uint64_t)st.n_tiles * (uint64_t)groups) {
    int64_t t = (int64_t)(item / (uint64_t)groups), b0 = (int64_t)(item % (uint64_t)groups) * S;
    int ns = (int)(a.batch - b0 < S ? a.batch - b0 : S);
    uint64_t passes = 0;
    aimc_block_read<S>(&st.params[t], a.dir, st.w + t * per_tile, st.rows, st.cols,
                       a.in + t * a.in_tile_stride + b0 * n_in, a.out + (t * a.batch + b0) * n_out,
                       a.call, a.batch, b0, ns, v, &passes);
    if (a.dir == AIMC_FORWARD && threadIdx.x == 0) {
      aimc_count(&stats[t].forward_passes, passes);
      aimc_count(&stats[t].forward_samples, (uint64_t)ns);
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
  uint64_t by_memory = ((uint64_t)256 << 20) / ((uint64_t)S * n_in * sizeof(float));
  if (blocks > by_memory) blocks = by_memory;
  if (blocks > items) blocks = items;
  if (blocks < 1) blocks = 1;
  float *scratch;
  s = aimc_cuda_workspace(ctx, (size_t)(blocks * (uint64_t)S * n_in * sizeof(float)),
                          (void **)&scratch);
  if (s != AIMC_OK) return s;
  unsigned threads = aimc_read_threads(transposed, st->rows, st->cols);
  cudaStream_t stream = aimc_stream(ctx);
  switch (S) {
    case 1:
      AIMC_LAUNCH(mvm_kernel<1>, (unsigned)blocks, threads, 0, stream)(*st, *a, stats, scratch);
      break;
    case 2:
      AIMC_LAUNCH(mvm_kernel<2>, (unsigned)blocks, threads, 0, stream)(*st, *a, stats, scratch);
      break;
    case 4:
      AIMC_LAUNCH(mvm_kernel<4>, (unsigned)blocks, threads, 0, stream)(*st, *a, stats, scratch);
      break;
    default:
      AIMC_LAUNCH(mvm_kernel<8>, (unsigned)blocks, threads, 0, stream)(*st, *a, stats, scratch);
      break;
  }
  return aimc_cuda_launched(ctx, "mvm_kernel");
}
