/* CPU loops of the network steps: moving per-sample vectors between a
 * layer and its tiles, activations, softmax cross entropy, biases. One work
 * item per (replica, sample) or per tile. */
#include <stdlib.h>

#include "kernels/common/network.h"
#include "kernels/cpu/cpu.h"

/* Threads for a network loop of about `work` simple element operations:
 * one below NET_MIN_WORK per thread even when the context asks for more.
 * These loops (a layer's vectors at training batch sizes: hundreds to a few
 * thousand floats) take microseconds, less than waking a second thread and
 * joining it again; results do not depend on the count. */
enum { NET_MIN_WORK = 1 << 14 };
static int net_threads(const aimc_context_t *ctx, int64_t work) {
  int nt = aimc_cpu_threads(ctx, work);
  int64_t useful = work / NET_MIN_WORK;
  return useful < 1 ? 1 : (useful < nt ? (int)useful : nt);
}

/* Grid blocks along the side: columns for inputs, rows for outputs. */
static int64_t side_n(const aimc_layer_map_t *m, int side) { return side ? m->out : m->in; }
static int64_t side_grid(const aimc_layer_map_t *m, int side) { return side ? m->grid_r : m->grid_c; }
static int64_t side_width(const aimc_layer_map_t *m, int side) { return side ? m->tr : m->tc; }

aimc_status_t aimc_cpu_net_gather(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                  const float *v, int64_t v_rep_stride, int64_t batch,
                                  float *tiles) {
  int64_t per_rep = (int64_t)m->grid_r * m->grid_c, n_tiles = per_rep * m->replicas;
  int64_t n = side_n(m, side), g = side_grid(m, side), w = side_width(m, side);
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, n_tiles * batch * w))
  for (int64_t t = 0; t < n_tiles; ++t) {
    int64_t k = t / per_rep, cell = t % per_rep;
    int64_t blk = side ? cell / m->grid_c : cell % m->grid_c;
    int64_t start = aimc_block_start(n, g, blk), size = aimc_block_size(n, g, blk);
    for (int64_t b = 0; b < batch; ++b) {
      const float *src = v + k * v_rep_stride + b * n + start;
      float *dst = tiles + (t * batch + b) * w;
      for (int64_t q = 0; q < w; ++q) dst[q] = q < size ? src[q] : 0.0f;
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_reduce(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                  const float *tiles, int64_t batch, float *v) {
  int64_t per_rep = (int64_t)m->grid_r * m->grid_c;
  int64_t n = side_n(m, side), g = side_grid(m, side), w = side_width(m, side);
  int64_t other = side ? m->grid_c : m->grid_r; /* the grid dimension summed over */
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, m->replicas * batch * n * other))
  for (int64_t kb = 0; kb < (int64_t)m->replicas * batch; ++kb) {
    int64_t k = kb / batch, b = kb % batch;
    float *dst = v + (k * batch + b) * n;
    for (int64_t blk = 0; blk < g; ++blk) {
      int64_t start = aimc_block_start(n, g, blk), size = aimc_block_size(n, g, blk);
      for (int64_t q = 0; q < size; ++q) dst[start + q] = 0.0f;
      for (int64_t o = 0; o < other; ++o) { /* partial sums in grid order */
        int64_t cell = side ? blk * m->grid_c + o : o * m->grid_c + blk;
        const float *src = tiles + ((k * per_rep + cell) * batch + b) * w;
        for (int64_t q = 0; q < size; ++q) dst[start + q] += src[q];
      }
    }
  }
  return AIMC_OK;
}

/* One row of a layer's outputs: bias, then the activation. */
static inline __attribute__((always_inline)) void activate_row_body(int32_t act, const float *bias,
                                                                    int64_t n, float *row) {
  for (int64_t i = 0; i < n; ++i) row[i] = aimc_activate(act, bias ? row[i] + bias[i] : row[i]);
}

typedef void (*activate_row_fn)(int32_t act, const float *bias, int64_t n, float *row);

static void activate_row(int32_t act, const float *bias, int64_t n, float *row) {
  activate_row_body(act, bias, n, row);
}

#if defined(AIMC_SIMD_X86)
/* The same row compiled for CPUs with FMA: aimc_expf's fmaf become fused
 * instructions instead of calls into libm (the same correctly rounded
 * result: the same bits). Chosen with the SIMD path (AIMC_CPU_SIMD=portable
 * keeps the plain one); every x86 SIMD path implies FMA. */
__attribute__((target("fma"))) static void activate_row_fma(int32_t act, const float *bias,
                                                            int64_t n, float *row) {
  activate_row_body(act, bias, n, row);
}
#endif

static activate_row_fn pick_activate_row(const aimc_context_t *ctx) {
#if defined(AIMC_SIMD_X86)
  if (aimc_cpu_env(ctx)->simd != &aimc_simd_portable) return activate_row_fma;
#else
  (void)ctx;
#endif
  return activate_row;
}

aimc_status_t aimc_cpu_net_activate(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                    const float *bias, int64_t batch, float *y) {
  activate_row_fn row_fn = pick_activate_row(ctx);
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, 8 * m->replicas * batch * m->out))
  for (int64_t kb = 0; kb < (int64_t)m->replicas * batch; ++kb) {
    int64_t k = kb / batch;
    row_fn(m->activation, bias ? bias + k * m->out : NULL, m->out, y + kb * m->out);
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_activation_grad(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                           const float *y, int64_t batch, float *d) {
  int64_t n = (int64_t)m->replicas * batch * m->out;
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, n))
  for (int64_t q = 0; q < n; ++q) d[q] = d[q] * aimc_activation_slope(m->activation, y[q]);
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_softmax_ce(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                      int32_t classes, const float *logits,
                                      const int32_t *labels, float *grad, float *loss) {
  (void)ctx;
  for (int32_t k = 0; k < replicas; ++k) {
    float total = 0.0f; /* summed in sample order: independent of threads */
    for (int64_t b = 0; b < batch; ++b) {
      const float *z = logits + ((int64_t)k * batch + b) * classes;
      float *g = grad + ((int64_t)k * batch + b) * classes;
      float zmax = z[0];
      for (int32_t c = 1; c < classes; ++c) zmax = aimc_maxf(zmax, z[c]);
      float sum = 0.0f;
      for (int32_t c = 0; c < classes; ++c) sum += g[c] = aimc_expf(z[c] - zmax);
      int32_t y = labels[b];
      total += aimc_logf(sum) - (z[y] - zmax);
      for (int32_t c = 0; c < classes; ++c)
        g[c] = (g[c] / sum - (c == y ? 1.0f : 0.0f)) / (float)batch;
    }
    loss[k] = total / (float)batch;
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_bias_update(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                       const float *d, int64_t batch, float lr, float *bias) {
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, m->replicas * m->out * batch))
  for (int64_t ki = 0; ki < (int64_t)m->replicas * m->out; ++ki) {
    int64_t k = ki / m->out, i = ki % m->out;
    float acc = 0.0f;
    for (int64_t b = 0; b < batch; ++b) acc += d[(k * batch + b) * m->out + i];
    bias[ki] = bias[ki] - lr * acc;
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_count_correct(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                         int32_t classes, const float *logits,
                                         const int32_t *labels, int64_t *correct) {
  (void)ctx;
  for (int32_t k = 0; k < replicas; ++k)
    for (int64_t b = 0; b < batch; ++b) {
      const float *z = logits + ((int64_t)k * batch + b) * classes;
      int32_t best = 0;
      for (int32_t c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      correct[k] += best == labels[b];
    }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_weights(aimc_context_t *ctx, const aimc_layer_map_t *m, int to_tiles,
                                   float *layer, float *tiles) {
  int64_t per_rep = (int64_t)m->grid_r * m->grid_c, n_tiles = per_rep * m->replicas;
#pragma omp parallel for schedule(static) num_threads(net_threads(ctx, n_tiles * m->tr * m->tc))
  for (int64_t t = 0; t < n_tiles; ++t) {
    int64_t k = t / per_rep, r = (t % per_rep) / m->grid_c, c = t % m->grid_c;
    int64_t r0 = aimc_block_start(m->out, m->grid_r, r), rn = aimc_block_size(m->out, m->grid_r, r);
    int64_t c0 = aimc_block_start(m->in, m->grid_c, c), cn = aimc_block_size(m->in, m->grid_c, c);
    for (int64_t i = 0; i < m->tr; ++i)
      for (int64_t j = 0; j < m->tc; ++j) {
        float *tw = tiles + (t * m->tr + i) * m->tc + j;
        int inside = i < rn && j < cn;
        float *lw = inside ? layer + (k * m->out + r0 + i) * m->in + c0 + j : NULL;
        if (to_tiles)
          *tw = inside ? *lw : 0.0f;
        else if (inside)
          *lw = *tw;
      }
  }
  return AIMC_OK;
}
