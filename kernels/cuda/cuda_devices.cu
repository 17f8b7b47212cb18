/* CUDA loops of the device-state operations: device-to-device sampling,
 * weight writes, decay/diffusion, reset and the combination of a tile's
 * arrays. One thread per weight; the arithmetic is kernels/common's. */
#include "kernels/common/combine.h"
#include "kernels/common/state.h"
#include "kernels/cuda/cuda_common.cuh"

static uint64_t n_weights(const aimc_state_t *st) {
  return (uint64_t)st->n_tiles * (uint64_t)st->rows * (uint64_t)st->cols;
}

__global__ void sample_kernel(aimc_state_t st, int32_t a, uint64_t n) {
  uint64_t per_tile = (uint64_t)st.rows * (uint64_t)st.cols;
  AIMC_GRID_LOOP(k, n) {
    uint64_t t = k / per_tile;
    aimc_wparams_t wp;
    aimc_device_sample(&st.params[t], a, k - t * per_tile, &wp);
    aimc_store_wparams(&st.arr[a], (size_t)k, &wp);
  }
}

aimc_status_t aimc_cuda_sample_devices(aimc_context_t *ctx, aimc_state_t *st) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  uint64_t n = n_weights(st);
  for (int32_t a = 0; a < st->n_arrays && s == AIMC_OK; ++a) {
    AIMC_LAUNCH_N(sample_kernel, ctx, n)(*st, a, n);
    s = aimc_cuda_launched(ctx, "sample_kernel");
  }
  return s;
}

__global__ void write_kernel(aimc_state_t st, const float *w, int mode, uint64_t write_call,
                             uint64_t n) {
  uint64_t per_tile = (uint64_t)st.rows * (uint64_t)st.cols;
  AIMC_GRID_LOOP(k, n) {
    uint64_t t = k / per_tile;
    const aimc_tile_params_t *tp = &st.params[t];
    float targets[AIMC_MAX_ARRAYS];
    aimc_array_targets(&tp->algo, w ? w[k] : 0.0f, targets);
    for (int32_t a = 0; a < st.n_arrays; ++a) {
      aimc_array_t *arr = &st.arr[a];
      aimc_wparams_t wp;
      aimc_load_wparams(arr, (size_t)k, &wp);
      float h, v;
      aimc_write_element(tp, a, &wp, targets[a], mode, write_call, k - t * per_tile, &h, &v);
      arr->h[k] = h;
      arr->w[k] = v;
    }
  }
}

aimc_status_t aimc_cuda_write_weights(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                      aimc_write_mode_t mode, uint64_t write_call) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = n_weights(st);
  AIMC_LAUNCH_N(write_kernel, ctx, n)(*st, w, (int)mode, write_call, n);
  return aimc_cuda_launched(ctx, "write_kernel");
}

__global__ void decay_kernel(aimc_state_t st, int32_t a, uint64_t call, uint64_t write_call,
                             uint64_t n) {
  uint64_t per_tile = (uint64_t)st.rows * (uint64_t)st.cols;
  aimc_array_t *arr = &st.arr[a];
  AIMC_GRID_LOOP(k, n) {
    uint64_t t = k / per_tile, widx = k - t * per_tile;
    const aimc_tile_params_t *tp = &st.params[t];
    if (!aimc_array_decays(tp, a)) continue;
    aimc_wparams_t wp;
    aimc_load_wparams(arr, (size_t)k, &wp);
    float h = aimc_decay_element(tp, a, &wp, arr->h[k], call, widx);
    arr->h[k] = h;
    arr->w[k] = aimc_refresh_visible(tp, a, h, wp.ref, write_call, widx);
  }
}

aimc_status_t aimc_cuda_decay(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                              uint64_t write_call) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  uint64_t n = n_weights(st);
  for (int32_t a = 0; a < st->n_arrays && s == AIMC_OK; ++a) {
    AIMC_LAUNCH_N(decay_kernel, ctx, n)(*st, a, call, write_call, n);
    s = aimc_cuda_launched(ctx, "decay_kernel");
  }
  return s;
}

/* One thread per (tile row, reset column). */
__global__ void reset_kernel(aimc_state_t st, int32_t a, int32_t col_start, int32_t n_cols,
                             float prob, uint64_t call, uint64_t write_call, uint64_t n) {
  uint64_t cols = (uint64_t)st.cols, per_tile = (uint64_t)st.rows * cols;
  aimc_array_t *arr = &st.arr[a];
  AIMC_GRID_LOOP(q, n) {
    uint64_t r = q / (uint64_t)n_cols, c = q - r * (uint64_t)n_cols;
    uint64_t t = r / (uint64_t)st.rows;
    uint64_t k = r * cols + ((uint64_t)col_start + c) % cols, widx = k - t * per_tile;
    aimc_reset_element(&st.params[t], arr, a, (size_t)k, widx, prob, call, write_call);
  }
}

aimc_status_t aimc_cuda_reset_columns(aimc_context_t *ctx, aimc_state_t *st, int32_t a,
                                      int32_t col_start, int32_t n_cols, float prob, uint64_t call,
                                      uint64_t write_call) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK || n_cols <= 0) return s;
  uint64_t n = (uint64_t)st->n_tiles * (uint64_t)st->rows * (uint64_t)n_cols;
  AIMC_LAUNCH_N(reset_kernel, ctx, n)(*st, a, col_start, n_cols, prob, call, write_call, n);
  return aimc_cuda_launched(ctx, "reset_kernel");
}

__global__ void combine_kernel(aimc_state_t st, uint64_t n) {
  uint64_t cols = (uint64_t)st.cols, rows = (uint64_t)st.rows;
  AIMC_GRID_LOOP(k, n) {
    uint64_t r = k / cols, t = r / rows;
    st.w[k] = aimc_combined_weight(&st, (int64_t)t, (int64_t)(r - t * rows),
                                   (int64_t)(k - r * cols), (size_t)k);
  }
}

aimc_status_t aimc_cuda_combine(aimc_context_t *ctx, aimc_state_t *st) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = n_weights(st);
  AIMC_LAUNCH_N(combine_kernel, ctx, n)(*st, n);
  return aimc_cuda_launched(ctx, "combine_kernel");
}
