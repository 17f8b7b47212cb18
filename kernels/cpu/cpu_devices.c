/* CPU loops of the device-state operations: device-to-device sampling,
 * weight writes, decay/diffusion and reset. One work item per tile row. */
#include "kernels/common/state.h"
#include "kernels/cpu/cpu.h"

aimc_status_t aimc_cpu_sample_devices(aimc_context_t *ctx, aimc_state_t *st) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    for (int64_t j = 0; j < cols; ++j) {
      int64_t k = r * cols + j;
      aimc_wparams_t wp;
      aimc_device_sample(&tp->desc, tp->key, (uint64_t)(k - t * per_tile), &wp);
      aimc_store_wparams(st, (size_t)k, &wp);
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_write_weights(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                     aimc_write_mode_t mode, uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    for (int64_t j = 0; j < cols; ++j) {
      int64_t k = r * cols + j;
      aimc_wparams_t wp;
      aimc_load_wparams(st, (size_t)k, &wp);
      float h, v;
      aimc_write_element(tp, &wp, w ? w[k] : 0.0f, (int)mode, write_call,
                         (uint64_t)(k - t * per_tile), &h, &v);
      st->h[k] = h;
      st->w[k] = v;
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_decay(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                             uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    if (!aimc_tile_decays(tp)) continue;
    for (int64_t j = 0; j < cols; ++j) {
      int64_t k = r * cols + j;
      uint64_t widx = (uint64_t)(k - t * per_tile);
      aimc_wparams_t wp;
      aimc_load_wparams(st, (size_t)k, &wp);
      float h = aimc_decay_element(tp, &wp, st->h[k], call, widx);
      st->h[k] = h;
      st->w[k] = aimc_refresh_visible(tp, h, wp.ref, write_call, widx);
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_reset_columns(aimc_context_t *ctx, aimc_state_t *st, int32_t col_start,
                                     int32_t n_cols, float prob, uint64_t call,
                                     uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    for (int32_t c = 0; c < n_cols; ++c) {
      int64_t k = r * cols + (col_start + c) % cols;
      uint64_t widx = (uint64_t)(k - t * per_tile);
      aimc_wparams_t wp;
      aimc_load_wparams(st, (size_t)k, &wp);
      float h;
      if (!aimc_reset_element(tp, &wp, prob, call, widx, &h)) continue;
      st->h[k] = h;
      st->w[k] = aimc_refresh_visible(tp, h, wp.ref, write_call, widx);
    }
  }
  return AIMC_OK;
}
