/* CPU loops of the algorithms that are not pulsed outer products:
 * mixed precision (digital accumulator), STELLAR (sign updates of device
 * pairs) and PANTHER (bit-sliced accumulation with carry resolution). The
 * rules are in kernels/common; one work item per tile row. */
#include <omp.h>
#include <stdlib.h>

#include "kernels/common/mixed_precision.h"
#include "kernels/common/panther.h"
#include "kernels/common/state.h"
#include "kernels/common/stellar.h"
#include "kernels/common/transfer.h"
#include "kernels/cpu/cpu.h"

/* ---- Mixed precision ----------------------------------------------------------- */

/* Binned values of one input vector (x or d) into out. */
static void bin_vector(const aimc_tile_params_t *tp, const float *v, int64_t n, int32_t n_bins,
                       uint64_t call, uint64_t line0, int w, float *out) {
  float m = 0.0f;
  for (int64_t k = 0; k < n; ++k) m = aimc_maxf(m, aimc_absf(v[k]));
  for (int64_t k = 0; k < n; ++k) {
    float u = 0.5f; /* round to nearest when not binning stochastically */
    if (n_bins > 0) {
      aimc_u32x4 r = aimc_philox_block(
          tp->key, aimc_subsequence(AIMC_STREAM_MP_ROUND, call), line0 + (uint64_t)k);
      u = aimc_u01(r.v[w]);
    }
    out[k] = aimc_mp_bin(v[k], m, n_bins, u);
  }
}

aimc_status_t aimc_cpu_mixed_precision(aimc_context_t *ctx, aimc_state_t *st,
                                       const aimc_update_args_t *a, aimc_tile_stats_t *stats) {
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols;
  int nt = aimc_cpu_threads(ctx, st->n_tiles * per_tile * a->batch);
  float *buf = malloc((size_t)nt * (size_t)(rows + cols) * sizeof(float));
  if (!buf) return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for binning");
  aimc_array_t *arr = &st->arr[0];
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_tile_params_t *tp = &st->params[t];
    const aimc_algo_params_t *p = &tp->algo;
    aimc_algo_state_t *as = &st->algo[t];
    float *qx = buf + (size_t)omp_get_thread_num() * (size_t)(rows + cols), *qd = qx + cols;
    float *chi = st->H + t * per_tile, lr = tp->upd[0].lr;
    for (int64_t b = 0; b < a->batch; ++b) { /* chi += lr d x^T, samples in order */
      const float *x = a->x + t * a->x_tile_stride + b * cols;
      const float *d = a->d + t * a->d_tile_stride + b * rows;
      bin_vector(tp, x, cols, p->n_x_bins, a->call, (uint64_t)(b * (rows + cols)), 0, qx);
      bin_vector(tp, d, rows, p->n_d_bins, a->call, (uint64_t)(b * (rows + cols) + cols), 1, qd);
      for (int64_t i = 0; i < rows; ++i) {
        float di = lr * qd[i];
        if (di == 0.0f) continue;
        for (int64_t j = 0; j < cols; ++j) chi[i * cols + j] += di * qx[j];
      }
    }
    stats[t].digital_ops += (uint64_t)a->batch * (uint64_t)per_tile;
    stats[t].update_calls += 1u;
    stats[t].update_samples += (uint64_t)a->batch;
    as->batches++;
    if (as->batches % (uint64_t)aimc_mp_period(p) != 0) continue;
    int32_t n_rows = aimc_mp_rows(p, st->rows);
    for (int32_t r = 0; r < n_rows; ++r) { /* whole steps of chi go to W, row by row */
      int64_t i = (as->next + r) % rows;
      for (int64_t j = 0; j < cols; ++j) {
        int64_t widx = i * cols + j, k = t * per_tile + widx;
        int32_t n = aimc_mp_transfer_element(p, &chi[widx]);
        if (n == 0) continue;
        uint32_t count = aimc_pulse_write(tp, arr, 0, (size_t)k, (uint64_t)widx, n, as->reads);
        if (n > 0)
          stats[t].pulses_up += count;
        else
          stats[t].pulses_down += count;
        stats[t].array_pulses[0] += count;
      }
      stats[t].transfers += 1u;
      as->reads++;
    }
    stats[t].digital_ops += (uint64_t)n_rows * (uint64_t)cols;
    as->next = (int32_t)((as->next + n_rows) % rows);
  }
  free(buf);
  return AIMC_OK;
}

/* ---- STELLAR --------------------------------------------------------------------- */

aimc_status_t aimc_cpu_stellar(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                               aimc_tile_stats_t *stats) {
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols, B = a->batch;
  int nt = aimc_cpu_threads(ctx, st->n_tiles * per_tile * B);
  /* per tile: the selected inputs and error signs of every sample */
  int8_t *sel = malloc((size_t)st->n_tiles * (size_t)B * (size_t)(rows + cols));
  if (!sel) return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for STELLAR");
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_algo_params_t *p = &st->params[t].algo;
    uint64_t samples = 0;
    for (int64_t b = 0; b < B; ++b) {
      const float *x = a->x + t * a->x_tile_stride + b * cols;
      const float *d = a->d + t * a->d_tile_stride + b * rows;
      int8_t *sx = sel + ((size_t)t * (size_t)B + (size_t)b) * (size_t)(rows + cols), *se = sx + cols;
      float xm = x[0];
      for (int64_t j = 1; j < cols; ++j) xm = aimc_maxf(xm, x[j]);
      int any_x = 0, any_e = 0;
      for (int64_t j = 0; j < cols; ++j) any_x |= sx[j] = (int8_t)aimc_stellar_input(p, x[j], xm);
      const float *y = a->y ? a->y + t * a->y_tile_stride + b * rows : NULL;
      for (int64_t i = 0; i < rows; ++i)
        any_e |= (se[i] = (int8_t)(aimc_stellar_output(p, y, i) ? aimc_stellar_error(p, d[i]) : 0)) != 0;
      samples += any_x && any_e;
    }
    stats[t].update_calls += 1u;
    stats[t].update_samples += samples;
  }
  int64_t n_rows = st->n_tiles * rows;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / rows, i = r % rows;
    const aimc_tile_params_t *tp = &st->params[t];
    uint64_t first = st->algo[t].samples;
    uint64_t up = 0, down = 0, per_array[2] = {0, 0};
    for (int64_t j = 0; j < cols; ++j) {
      int64_t widx = i * cols + j, k = t * per_tile + widx;
      float h[2] = {st->arr[0].h[k], st->arr[1].h[k]};
      aimc_wparams_t wp[2];
      aimc_normal_stream_t ns[2];
      int touched[2] = {0, 0};
      for (int64_t b = 0; b < B; ++b) {
        const int8_t *sx = sel + ((size_t)t * (size_t)B + (size_t)b) * (size_t)(rows + cols);
        int u = sx[cols + i] * sx[j];
        if (u == 0) continue;
        int32_t ar;
        int is_up;
        aimc_stellar_pulse(u, first + (uint64_t)b, &ar, &is_up);
        if (!touched[ar]) {
          aimc_load_wparams(&st->arr[ar], (size_t)k, &wp[ar]);
          aimc_normal_stream_init(
              &ns[ar], tp->key,
              aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, aimc_array_counter(ar, a->call)),
              (uint64_t)widx << 32);
          touched[ar] = 1;
        }
        h[ar] = aimc_device_pulses(aimc_array_dev(tp, ar), &wp[ar], h[ar], is_up, 1, &ns[ar]);
        if (is_up) up++; else down++;
        per_array[ar]++;
      }
      for (int32_t ar = 0; ar < 2; ++ar) {
        if (!touched[ar]) continue;
        st->arr[ar].h[k] = h[ar];
        st->arr[ar].w[k] =
            aimc_refresh_visible(tp, ar, h[ar], wp[ar].ref, a->write_call, (uint64_t)widx);
      }
    }
#pragma omp atomic
    stats[t].pulses_up += up;
#pragma omp atomic
    stats[t].pulses_down += down;
#pragma omp atomic
    stats[t].array_pulses[0] += per_array[0];
#pragma omp atomic
    stats[t].array_pulses[1] += per_array[1];
  }
  for (int64_t t = 0; t < st->n_tiles; ++t) st->algo[t].samples += (uint64_t)B;
  free(sel);
  return AIMC_OK;
}

/* ---- PANTHER ----------------------------------------------------------------------- */

/* Carry resolution of one weight: read the slices, rewrite canonical
 * digits through the device (programming, with write noise). */
static void panther_crs(aimc_state_t *st, int64_t t, int64_t widx, uint64_t event) {
  const aimc_tile_params_t *tp = &st->params[t];
  const aimc_algo_params_t *p = &tp->algo;
  int64_t k = t * (int64_t)st->rows * st->cols + widx;
  float levels[AIMC_MAX_ARRAYS];
  for (int32_t m = 0; m < p->n_slices; ++m) levels[m] = st->arr[m].w[k];
  aimc_panther_levels(p, rintf(aimc_panther_value(p, levels)), levels);
  for (int32_t m = 0; m < p->n_slices; ++m) {
    aimc_wparams_t wp;
    aimc_load_wparams(&st->arr[m], (size_t)k, &wp);
    aimc_write_element(tp, m, &wp, levels[m], AIMC_WRITE_MODE_PROGRAM,
                       AIMC_TRANSFER_READ_CALL | event, (uint64_t)widx, &st->arr[m].h[k],
                       &st->arr[m].w[k]);
  }
}

aimc_status_t aimc_cpu_panther(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                               aimc_tile_stats_t *stats) {
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols, B = a->batch;
  int nt = aimc_cpu_threads(ctx, st->n_tiles * per_tile * B);
  /* per tile and sample: |x| and |lr d| in fixed point, and their signs */
  size_t n_q = (size_t)st->n_tiles * (size_t)B * (size_t)(rows + cols);
  uint32_t *q = malloc(n_q * sizeof *q);
  uint8_t *neg = malloc(n_q);
  if (!q || !neg) {
    free(q), free(neg);
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for PANTHER");
  }
  uint64_t sub = aimc_subsequence(AIMC_STREAM_PANTHER_ROUND, a->call);
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_tile_params_t *tp = &st->params[t];
    for (int64_t b = 0; b < B; ++b) {
      size_t o = ((size_t)t * (size_t)B + (size_t)b) * (size_t)(rows + cols);
      const float *x = a->x + t * a->x_tile_stride + b * cols;
      const float *d = a->d + t * a->d_tile_stride + b * rows;
      for (int64_t j = 0; j < cols; ++j) {
        q[o + (size_t)j] = aimc_panther_input(&tp->algo, x[j]);
        neg[o + (size_t)j] = x[j] < 0.0f;
      }
      for (int64_t i = 0; i < rows; ++i) {
        float u = aimc_u01(aimc_philox_block(tp->key, sub, (uint64_t)(b * rows + i)).v[0]);
        q[o + (size_t)(cols + i)] = aimc_panther_delta(&tp->algo, tp->upd[0].lr, d[i], u);
        neg[o + (size_t)(cols + i)] = d[i] < 0.0f;
      }
    }
    stats[t].update_calls += 1u;
    stats[t].update_samples += (uint64_t)B;
  }
  int64_t n_rows = st->n_tiles * rows;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t t = r / rows, i = r % rows;
    const aimc_tile_params_t *tp = &st->params[t];
    const aimc_algo_params_t *p = &tp->algo;
    int32_t n = p->n_slices;
    uint64_t first = st->algo[t].samples, up = 0, down = 0, crs = 0;
    uint64_t per_array[AIMC_MAX_ARRAYS] = {0};
    for (int64_t j = 0; j < cols; ++j) {
      int64_t widx = i * cols + j, k = t * per_tile + widx;
      for (int64_t b = 0; b < B; ++b) {
        size_t o = ((size_t)t * (size_t)B + (size_t)b) * (size_t)(rows + cols);
        uint32_t xq = q[o + (size_t)j], dq = q[o + (size_t)(cols + i)];
        if (xq && dq) {
          /* W -= lr d x: the weight goes up when d and x differ in sign */
          int is_up = neg[o + (size_t)j] != neg[o + (size_t)(cols + i)];
          for (int32_t m = 0; m < n; ++m) {
            uint32_t inc = aimc_panther_increment(xq, dq, n - 1 - m, n,
                                                  2u << p->slice_bits[m]);
            if (!inc) continue;
            aimc_array_t *arr = &st->arr[m];
            aimc_wparams_t wp;
            aimc_load_wparams(arr, (size_t)k, &wp);
            aimc_normal_stream_t ns;
            aimc_normal_stream_init(
                &ns, tp->key,
                aimc_subsequence(AIMC_STREAM_UPDATE_PULSE,
                                 aimc_array_counter(m, (a->call << 20) | (uint64_t)b)),
                (uint64_t)widx << 32);
            arr->h[k] = aimc_device_pulses(aimc_array_dev(tp, m), &wp, arr->h[k], is_up, inc, &ns);
            arr->w[k] = aimc_refresh_visible(tp, m, arr->h[k], wp.ref,
                                             (a->write_call << 20) | (uint64_t)b, (uint64_t)widx);
            if (is_up) up += inc; else down += inc;
            per_array[m] += inc;
          }
        }
        uint64_t seen = first + (uint64_t)b + 1u;
        if (seen % (uint64_t)p->crs_every == 0) {
          panther_crs(st, t, widx, seen / (uint64_t)p->crs_every);
          crs++;
        }
      }
    }
#pragma omp atomic
    stats[t].pulses_up += up;
#pragma omp atomic
    stats[t].pulses_down += down;
    for (int32_t m = 0; m < n; ++m) {
#pragma omp atomic
      stats[t].array_pulses[m] += per_array[m];
    }
#pragma omp atomic
    stats[t].digital_ops += crs * (uint64_t)n;
  }
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_algo_params_t *p = &st->params[t].algo;
    uint64_t before = st->algo[t].samples / (uint64_t)p->crs_every;
    st->algo[t].samples += (uint64_t)B;
    stats[t].transfers += st->algo[t].samples / (uint64_t)p->crs_every - before;
  }
  free(q), free(neg);
  return AIMC_OK;
}
