/* CPU loops of the device-state operations: device-to-device sampling,
 * weight writes, decay/diffusion, reset, and the combination of a tile's
 * arrays into the weights reads see. One work item per tile row. */
#include "kernels/common/combine.h"
#include "kernels/common/state.h"
#include "kernels/cpu/cpu.h"

aimc_status_t aimc_cpu_sample_devices(aimc_context_t *ctx, aimc_state_t *st) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
  for (int32_t a = 0; a < st->n_arrays; ++a) {
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_rows * cols))
    for (int64_t r = 0; r < n_rows; ++r) {
      int64_t t = r / st->rows;
      for (int64_t j = 0; j < cols; ++j) {
        int64_t k = r * cols + j;
        aimc_wparams_t wp;
        aimc_device_sample(&st->params[t], a, (uint64_t)(k - t * per_tile), &wp);
        aimc_store_wparams(&st->arr[a], (size_t)k, &wp);
      }
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_write_weights(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                     aimc_write_mode_t mode, uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_rows * cols))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    for (int64_t j = 0; j < cols; ++j) {
      int64_t k = r * cols + j;
      float targets[AIMC_MAX_ARRAYS];
      aimc_array_targets(&tp->algo, w ? w[k] : 0.0f, targets);
      for (int32_t a = 0; a < st->n_arrays; ++a) {
        aimc_array_t *arr = &st->arr[a];
        aimc_wparams_t wp;
        aimc_load_wparams(arr, (size_t)k, &wp);
        float h, v;
        aimc_write_element(tp, a, &wp, targets[a], (int)mode, write_call,
                           (uint64_t)(k - t * per_tile), &h, &v);
        arr->h[k] = h;
        arr->w[k] = v;
      }
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_decay(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                             uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
  for (int32_t a = 0; a < st->n_arrays; ++a) {
    aimc_array_t *arr = &st->arr[a];
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_rows * cols))
    for (int64_t r = 0; r < n_rows; ++r) {
      int64_t t = r / st->rows;
      const aimc_tile_params_t *tp = &st->params[t];
      if (!aimc_array_decays(tp, a)) continue;
      for (int64_t j = 0; j < cols; ++j) {
        int64_t k = r * cols + j;
        uint64_t widx = (uint64_t)(k - t * per_tile);
        aimc_wparams_t wp;
        aimc_load_wparams(arr, (size_t)k, &wp);
        float h = aimc_decay_element(tp, a, &wp, arr->h[k], call, widx);
        arr->h[k] = h;
        arr->w[k] = aimc_refresh_visible(tp, a, h, wp.ref, write_call, widx);
      }
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_reset_columns(aimc_context_t *ctx, aimc_state_t *st, int32_t a,
                                     int32_t col_start, int32_t n_cols, float prob, uint64_t call,
                                     uint64_t write_call) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols, per_tile = (int64_t)st->rows * st->cols;
  aimc_array_t *arr = &st->arr[a];
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_rows * cols))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows;
    const aimc_tile_params_t *tp = &st->params[t];
    for (int32_t c = 0; c < n_cols; ++c) {
      int64_t k = r * cols + (col_start + c) % cols;
      aimc_reset_element(tp, arr, a, (size_t)k, (uint64_t)(k - t * per_tile), prob, call,
                         write_call);
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_combine(aimc_context_t *ctx, aimc_state_t *st) {
  int64_t n_rows = st->n_tiles * st->rows;
  int64_t cols = st->cols;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_rows * cols))
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / st->rows, i = r % st->rows;
    for (int64_t j = 0; j < cols; ++j)
      st->w[r * cols + j] = aimc_combined_weight(st, t, i, j, (size_t)(r * cols + j));
  }
  return AIMC_OK;
}
