/* Interface between the algorithm layer (algorithm.c) and the algorithms
 * (algo_*.c): each algorithm says what an update means,
 * composed from the backend primitives and the helpers below. */
#ifndef AIMC_HOST_ALGORITHMS_H
#define AIMC_HOST_ALGORITHMS_H

#include "host/internal.h"

typedef struct aimc_algorithm_ops {
  /* One mini-batch: the arguments carry x, d, strides and batch. */
  aimc_status_t (*update)(aimc_tiles_t *t, const aimc_update_args_t *a);
} aimc_algorithm_ops_t;

extern const aimc_algorithm_ops_t aimc_algo_sgd;
extern const aimc_algorithm_ops_t aimc_algo_float_sgd;
extern const aimc_algorithm_ops_t aimc_algo_transfer; /* TIKI_TAKA, TTV2, CHOPPED_TTV2, AGAD */
extern const aimc_algorithm_ops_t aimc_algo_mixed_precision;
extern const aimc_algorithm_ops_t aimc_algo_stellar;
extern const aimc_algorithm_ops_t aimc_algo_panther;

/* Runs one backend step of an algorithm with the batch's counters. */
aimc_status_t aimc_algo_step(aimc_tiles_t *t, const aimc_update_args_t *proto,
                             aimc_status_t (*step)(aimc_context_t *, aimc_state_t *,
                                                   const aimc_update_args_t *,
                                                   aimc_tile_stats_t *));

/* A pulsed update with the batch's counters (the prototype's call counters
 * are ignored). */
aimc_status_t aimc_algo_pulse(aimc_tiles_t *t, const aimc_update_args_t *proto);
/* Writes visible weights into every array (each its share). */
aimc_status_t aimc_algo_write(aimc_tiles_t *t, const float *w, aimc_write_mode_t mode);
/* Recomputes the combined weights reads see, where the algorithm has them. */
aimc_status_t aimc_algo_combine(aimc_tiles_t *t);
/* Zeroes buffers, sets choppers to +1, clears the per-tile algorithm state. */
aimc_status_t aimc_algo_reset_state(aimc_tiles_t *t);

#endif
