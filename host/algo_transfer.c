/* The transfer family: Tiki-Taka v1, TTv2, chopped TTv2 and AGAD.
 *
 * Per sample, in order (aihwkit processes update vectors one at a time):
 * the rate of the A update (auto-scaled running maxima for the chopped
 * algorithms), the pulsed update of A (chopped where the algorithm chops),
 * then the transfer of the next column of A into C where the tile's
 * schedule says so. What a transfer does for each algorithm is in
 * kernels/common/transfer.h; docs/algorithms.md has the whole story. */
#include "host/algorithms.h"
#include "kernels/common/transfer.h"

static aimc_status_t transfer_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  aimc_context_t *ctx = t->ctx;
  int64_t rows = t->st.rows, cols = t->st.cols;
  int chopped = aimc_is_chopped(t->hparams[0].algo.kind);
  for (int64_t b = 0; b < a->batch; ++b) {
    const float *x = a->x + b * cols, *d = a->d + b * rows;
    aimc_status_t s = ctx->ops->transfer_rates(ctx, &t->st, x, a->x_tile_stride, d,
                                               a->d_tile_stride, a->batch, t->lr);
    if (s != AIMC_OK) return s;
    aimc_update_args_t fast = *a;
    fast.x = x, fast.d = d, fast.batch = 1;
    fast.array = AIMC_ARRAY_FAST, fast.upd = 0, fast.lr = t->lr, fast.chopped = chopped;
    fast.not_a_call = b > 0;
    if ((s = aimc_algo_pulse(t, &fast)) != AIMC_OK) return s;
    if ((s = ctx->ops->transfer(ctx, &t->st, a->batch, t->lr, t->stats)) != AIMC_OK) return s;
  }
  return AIMC_OK;
}

const aimc_algorithm_ops_t aimc_algo_transfer = {transfer_update};
