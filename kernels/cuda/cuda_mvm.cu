/* CUDA analog reads: forward (W x), backward (W^T d) and transfer reads of
 * every tile in one launch, one block per (tile, sample), bound management
 * included (the block repeats its pass; the host never waits). */
#include "kernels/cuda/cuda_read.cuh"

__global__ void mvm_kernel(aimc_state_t st, aimc_mvm_args_t a, aimc_tile_stats_t *stats,
                           float *scratch) {
  int transposed = a.dir == AIMC_BACKWARD || a.dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? st.rows : st.cols, n_out = transposed ? st.cols : st.rows;
  int64_t per_tile = (int64_t)st.rows * st.cols;
  float *v = scratch + (uint64_t)blockIdx.x * (uint64_t)n_in;
  uint64_t n_items = (uint64_t)st.n_tiles * (uint64_t)a.batch;
  AIMC_BLOCK_LOOP(item, n_items) {
    int64_t t = (int64_t)(item / (uint64_t)a.batch), b = (int64_t)(item % (uint64_t)a.batch);
    int passes = aimc_block_read(&st.params[t], a.dir, st.w + t * per_tile, st.rows, st.cols,
                                 a.in + t * a.in_tile_stride + b * n_in,
                                 a.out + (t * a.batch + b) * n_out, a.call, a.batch, b, v);
    if (a.dir == AIMC_FORWARD && threadIdx.x == 0) {
      atomicAdd((unsigned long long *)&stats[t].forward_passes, (unsigned long long)passes);
      atomicAdd((unsigned long long *)&stats[t].forward_samples, 1ull);
    }
  }
}

aimc_status_t aimc_cuda_mvm(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                            aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  int transposed = a->dir == AIMC_BACKWARD || a->dir == AIMC_TRANSFER_BACKWARD;
  uint64_t n_in = (uint64_t)(transposed ? st->rows : st->cols);
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)a->batch;
  /* enough blocks to fill the GPU several times over, scratch at most 256 MiB */
  uint64_t blocks = (uint64_t)aimc_cu(ctx)->sm_count * 16u;
  uint64_t by_memory = ((uint64_t)256 << 20) / (n_in * sizeof(float));
  if (blocks > by_memory) blocks = by_memory;
  if (blocks > items) blocks = items;
  if (blocks < 1) blocks = 1;
  float *scratch;
  s = aimc_cuda_workspace(ctx, (size_t)(blocks * n_in * sizeof(float)), (void **)&scratch);
  if (s != AIMC_OK) return s;
  AIMC_LAUNCH(mvm_kernel, (unsigned)blocks, aimc_read_threads(transposed, st->rows, st->cols), 0,
              aimc_stream(ctx))
  (*st, *a, stats, scratch);
  return aimc_cuda_launched(ctx, "mvm_kernel");
}
