/* The CPU reference backend: OpenMP loops over the shared per-element
 * functions of kernels/common. Work is split over logical items (tiles,
 * samples, rows) and every random number comes from its logical position,
 * so results do not depend on the number of threads. */
#ifndef AIMC_CPU_H
#define AIMC_CPU_H

#include "kernels/backend.h"
#include "kernels/cpu/cpu_simd.h"

/* Threads for a loop of about `work` element operations: the context's
 * count when one was set; automatically (n_threads 0) all cores, but fewer
 * (down to 1) when the loop is too small to repay waking a team. Small
 * loops are the norm inside per-sample algorithm steps and small layers,
 * and on a shared machine a woken team that spins for its turn costs far
 * more than the loop itself. */
int aimc_cpu_threads(const aimc_context_t *ctx, int64_t work);

/* Regions on the per-sample path of the transfer family (thousands of
 * backend calls per batch on small tiles) follow one pattern: the body of
 * one loop item is a static function, run by a plain loop on the caller's
 * thread when the region would have one thread, and by `#pragma omp
 * parallel for` otherwise. Entering the OpenMP runtime costs even a team of
 * one a team start and, in libgomp, a futex wake at its end barrier: more
 * than the work of such a call. Same items, same order per item: the same
 * bits either way. */

/* What the CPU backend reads from the environment, once per context (at
 * aimc_context_create): a getenv per operation showed in the profiles of
 * the per-sample steps. Tests set the variables before making a context. */
typedef struct aimc_cpu_env {
  const aimc_simd_ops_t *simd; /* aimc_cpu_simd() (AIMC_CPU_SIMD) */
  size_t train_budget;         /* bytes of pulse trains at once (AIMC_CPU_TRAIN_BUDGET) */
  int skip_empty_rows;         /* 0 when AIMC_CPU_UPDATE_DENSE=1 */
} aimc_cpu_env_t;

const aimc_cpu_env_t *aimc_cpu_env(const aimc_context_t *ctx);

/* Scratch memory of an operation, kept across calls by the context (grown
 * when a call needs more, freed with the context) instead of a malloc and a
 * free per call. An operation takes the context's arena, carves its buffers
 * from it and gives it back; a second thread calling into the same context
 * meanwhile gets an arena of its own (freed when given back while the
 * context's is in place). Carving is two passes: aimc_cpu_arena_begin(a,
 * 0) then aimc_cpu_carve for every buffer counts the bytes (carve returns
 * NULL when they do not fit yet); aimc_cpu_arena_begin(a, bytes) makes room
 * and starts the pass that hands out the buffers. */
typedef struct aimc_cpu_arena {
  char *base;
  size_t cap, used;
} aimc_cpu_arena_t;

aimc_cpu_arena_t *aimc_cpu_arena_take(aimc_context_t *ctx);
void aimc_cpu_arena_give(aimc_context_t *ctx, aimc_cpu_arena_t *a);
/* Starts a pass; room for `bytes` first (0: keep what there is). 0 when out
 * of memory. */
int aimc_cpu_arena_begin(aimc_cpu_arena_t *a, size_t bytes);
/* The next `bytes` (64-byte aligned), or NULL when they lie past the room. */
void *aimc_cpu_carve(aimc_cpu_arena_t *a, size_t bytes);

/* Scratch of one analog read: 8 arrays of max(rows, cols) floats (w2 holds
 * words), and the vector path the read takes (NULL: aimc_cpu_simd()'s). */
#define AIMC_READ_SCRATCH_ARRAYS 8
typedef struct aimc_read_scratch {
  float *v, *y, *q, *nl, *sigma, *z0, *z1;
  uint32_t *w2;
  const aimc_simd_ops_t *ops;
} aimc_read_scratch_t;

int aimc_cpu_read_vector(const aimc_tile_params_t *tp, int dir, const float *w, int64_t rows,
                         int64_t cols, const float *in, float *out, uint64_t call, int64_t batch,
                         int64_t b, aimc_read_scratch_t *s);

aimc_status_t aimc_cpu_sample_devices(aimc_context_t *ctx, aimc_state_t *st);
aimc_status_t aimc_cpu_write_weights(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                     aimc_write_mode_t mode, uint64_t write_call);
aimc_status_t aimc_cpu_decay(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                             uint64_t write_call);
aimc_status_t aimc_cpu_reset_columns(aimc_context_t *ctx, aimc_state_t *st, int32_t array,
                                     int32_t col_start, int32_t n_cols, float prob, uint64_t call,
                                     uint64_t write_call);
aimc_status_t aimc_cpu_combine(aimc_context_t *ctx, aimc_state_t *st);
aimc_status_t aimc_cpu_transfer_rates(aimc_context_t *ctx, aimc_state_t *st, const float *x,
                                      int64_t x_tile_stride, const float *d,
                                      int64_t d_tile_stride, int64_t batch, float *lr);
aimc_status_t aimc_cpu_transfer(aimc_context_t *ctx, aimc_state_t *st, int64_t batch,
                                const float *count_lr, aimc_tile_stats_t *stats);
aimc_status_t aimc_cpu_mixed_precision(aimc_context_t *ctx, aimc_state_t *st,
                                       const aimc_update_args_t *a, aimc_tile_stats_t *stats);
aimc_status_t aimc_cpu_stellar(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                               aimc_tile_stats_t *stats);
aimc_status_t aimc_cpu_panther(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                               aimc_tile_stats_t *stats);
aimc_status_t aimc_cpu_mvm(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                           aimc_tile_stats_t *stats);
aimc_status_t aimc_cpu_update(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                              aimc_tile_stats_t *stats);

aimc_status_t aimc_cpu_net_gather(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                  const float *v, int64_t v_rep_stride, int64_t batch,
                                  float *tiles);
aimc_status_t aimc_cpu_net_reduce(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                  const float *tiles, int64_t batch, float *v);
aimc_status_t aimc_cpu_net_activate(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                    const float *bias, int64_t batch, float *y);
aimc_status_t aimc_cpu_net_activation_grad(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                           const float *y, int64_t batch, float *d);
aimc_status_t aimc_cpu_net_softmax_ce(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                      int32_t classes, const float *logits,
                                      const int32_t *labels, float *grad, float *loss);
aimc_status_t aimc_cpu_net_bias_update(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                       const float *d, int64_t batch, float lr, float *bias);
aimc_status_t aimc_cpu_net_count_correct(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                         int32_t classes, const float *logits,
                                         const int32_t *labels, int64_t *correct);
aimc_status_t aimc_cpu_net_weights(aimc_context_t *ctx, const aimc_layer_map_t *m, int to_tiles,
                                   float *layer, float *tiles);

/* The non-finite policy's data scans (cpu_check.c). */
aimc_status_t aimc_cpu_scan_finite(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                                 int64_t stride, int64_t *bad, float *max_abs);
aimc_status_t aimc_cpu_scan_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                 int32_t classes, int64_t *bad);

#endif
