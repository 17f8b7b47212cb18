/* Mixed precision (Nandakumar et al., Front. Neurosci. 2020): the gradient
 * accumulates exactly in a digital chi beside the analog W; every
 * transfer_every mini-batches n_rows_per_transfer rows of chi move whole
 * device steps into W (kernels/common/mixed_precision.h). */
#include "host/algorithms.h"

static aimc_status_t mp_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  return aimc_algo_step(t, a, t->ctx->ops->mixed_precision);
}

const aimc_algorithm_ops_t aimc_algo_mixed_precision = {mp_update};
