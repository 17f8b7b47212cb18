/* STELLAR (Zhang et al., Science 2023): ternary sign updates of G+ - G-
 * pairs, one pulse per selected pair, alternating RESET and SET cycles, no
 * learning rate (kernels/common/stellar.h). */
#include "host/algorithms.h"

static aimc_status_t stellar_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  return aimc_algo_step(t, a, t->ctx->ops->stellar);
}

const aimc_algorithm_ops_t aimc_algo_stellar = {stellar_update};
