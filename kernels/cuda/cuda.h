/* The CUDA backend: one launch (or a small fixed number) per operation for
 * all tiles of a batch, on the context's stream, with no host
 * synchronisation inside an operation. Every kernel is a loop over the
 * shared per-element functions of kernels/common, indexed so that each
 * random number comes from its logical position: results are bit-identical
 * to the CPU backend's (kernels/cpu), which the CUDA suites in tests/ check.
 *
 * This header is C: kernels/cuda/cuda_backend.c builds the operation table
 * from it, and the .cu files define the functions. */
#ifndef AIMC_CUDA_H
#define AIMC_CUDA_H

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Context: device, streams, workspace (cuda_context.cu). */
aimc_status_t aimc_cuda_init(aimc_context_t *ctx);
void aimc_cuda_shutdown(aimc_context_t *ctx);
aimc_status_t aimc_cuda_alloc(aimc_context_t *ctx, void **ptr, size_t bytes);
void aimc_cuda_release(aimc_context_t *ctx, void *ptr);
aimc_status_t aimc_cuda_copy(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                             aimc_copy_kind_t kind);
aimc_status_t aimc_cuda_zero(aimc_context_t *ctx, void *ptr, size_t bytes);
aimc_status_t aimc_cuda_synchronize(aimc_context_t *ctx);
aimc_status_t aimc_cuda_set_stream(aimc_context_t *ctx, void *stream);
void *aimc_cuda_get_stream(const aimc_context_t *ctx);

/* Device state (cuda_devices.cu). */
aimc_status_t aimc_cuda_sample_devices(aimc_context_t *ctx, aimc_state_t *st);
aimc_status_t aimc_cuda_write_weights(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                      aimc_write_mode_t mode, uint64_t write_call);
aimc_status_t aimc_cuda_decay(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                              uint64_t write_call);
aimc_status_t aimc_cuda_reset_columns(aimc_context_t *ctx, aimc_state_t *st, int32_t array,
                                      int32_t col_start, int32_t n_cols, float prob,
                                      uint64_t call, uint64_t write_call);
aimc_status_t aimc_cuda_combine(aimc_context_t *ctx, aimc_state_t *st);

/* Analog reads (cuda_mvm.cu) and the pulsed update (cuda_update.cu). */
aimc_status_t aimc_cuda_mvm(aimc_context_t *ctx, const aimc_state_t *st,
                            const aimc_mvm_args_t *a, aimc_tile_stats_t *stats);
aimc_status_t aimc_cuda_update(aimc_context_t *ctx, aimc_state_t *st,
                               const aimc_update_args_t *a, aimc_tile_stats_t *stats);

/* Algorithms (cuda_transfer.cu, cuda_algorithms.cu). */
aimc_status_t aimc_cuda_transfer_rates(aimc_context_t *ctx, aimc_state_t *st, const float *x,
                                       int64_t x_tile_stride, const float *d,
                                       int64_t d_tile_stride, int64_t batch, float *lr);
aimc_status_t aimc_cuda_transfer(aimc_context_t *ctx, aimc_state_t *st, int64_t batch,
                                 const float *count_lr, aimc_tile_stats_t *stats);
aimc_status_t aimc_cuda_mixed_precision(aimc_context_t *ctx, aimc_state_t *st,
                                        const aimc_update_args_t *a, aimc_tile_stats_t *stats);
aimc_status_t aimc_cuda_stellar(aimc_context_t *ctx, aimc_state_t *st,
                                const aimc_update_args_t *a, aimc_tile_stats_t *stats);
aimc_status_t aimc_cuda_panther(aimc_context_t *ctx, aimc_state_t *st,
                                const aimc_update_args_t *a, aimc_tile_stats_t *stats);

/* Networks (cuda_network.cu). */
aimc_status_t aimc_cuda_net_gather(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                   const float *v, int64_t v_rep_stride, int64_t batch,
                                   float *tiles);
aimc_status_t aimc_cuda_net_reduce(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                   const float *tiles, int64_t batch, float *v);
aimc_status_t aimc_cuda_net_activate(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                     const float *bias, int64_t batch, float *y);
aimc_status_t aimc_cuda_net_activation_grad(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                            const float *y, int64_t batch, float *d);
aimc_status_t aimc_cuda_net_softmax_ce(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                       int32_t classes, const float *logits,
                                       const int32_t *labels, float *grad, float *loss);
aimc_status_t aimc_cuda_net_bias_update(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                        const float *d, int64_t batch, float lr, float *bias);
aimc_status_t aimc_cuda_net_count_correct(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                          int32_t classes, const float *logits,
                                          const int32_t *labels, int64_t *correct);
aimc_status_t aimc_cuda_net_weights(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                    int to_tiles, float *layer, float *tiles);

/* The non-finite policy's data scans (cuda_check.cu). */
aimc_status_t aimc_cuda_scan_finite(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                                 int64_t stride, int64_t *bad, float *max_abs);
aimc_status_t aimc_cuda_scan_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                 int32_t classes, int64_t *bad);

#ifdef __cplusplus
}
#endif

#endif
