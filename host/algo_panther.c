/* PANTHER (Ankit et al., IEEE TC 2020): bit-sliced weights, outer-product
 * accumulation into the slices with deferred carries, carry resolution
 * every crs_every samples (kernels/common/panther.h). */
#include "host/algorithms.h"

static aimc_status_t panther_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  return aimc_algo_step(t, a, t->ctx->ops->panther);
}

const aimc_algorithm_ops_t aimc_algo_panther = {panther_update};
