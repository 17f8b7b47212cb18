/* CPU loops of the network steps: moving per-sample vectors between a
 * layer and its tiles, activations, softmax cross entropy, biases. One work
 * item per (replica, sample) or per tile. */
#include <stdlib.h>

#include "kernels/common/network.h"
#include "kernels/cpu/cpu.h"

/* Grid blocks along the side: columns for inputs, rows for outputs. */
static int64_t side_n(const aimc_layer_map_t *m, int side) { return side ? m->out : m->in; }
static int64_t side_grid(const aimc_layer_map_t *m, int side) { return side ? m->grid_r : m->grid_c; }
static int64_t side_width(const aimc_layer_map_t *m, int side) { return side ? m->tr : m->tc; }

aimc_status_t aimc_cpu_net_gather(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                  const float *v, int64_t v_rep_stride, int64_t batch,
                                  float *tiles) {
  int64_t per_rep = (int64_t)m->grid_r * m->grid_c, n_tiles = per_rep * m->replicas;
  int64_t n = side_n(m, side), g = side_grid(m, side), w = side_width(m, side);
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_tiles * batch * w))
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
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, m->replicas * batch * n * other))
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

aimc_status_t aimc_cpu_net_activate(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                    const float *bias, int64_t batch, float *y) {
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, 8 * m->replicas * batch * m->out))
  for (int64_t kb = 0; kb < (int64_t)m->replicas * batch; ++kb) {
    int64_t k = kb / batch;
    float *row = y + kb * m->out;
    for (int64_t i = 0; i < m->out; ++i) {
      float v = bias ? row[i] + bias[k * m->out + i] : row[i];
      row[i] = aimc_activate(m->activation, v);
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_cpu_net_activation_grad(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                           const float *y, int64_t batch, float *d) {
  int64_t n = (int64_t)m->replicas * batch * m->out;
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n))
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
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, m->replicas * m->out * batch))
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
#pragma omp parallel for schedule(static) num_threads(aimc_cpu_threads(ctx, n_tiles * m->tr * m->tc))
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
