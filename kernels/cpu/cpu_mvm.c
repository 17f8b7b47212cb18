/* CPU analog reads: forward (W x), backward (W^T d) and transfer reads of
 * every tile, one work item per (tile, sample). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/common/io.h"
#include "kernels/common/reduce.h"
#include "kernels/cpu/cpu.h"

/* y = W v (forward, n_out = rows) or y = W^T v (transposed, n_out = cols),
 * in the order of sums of the portable kernels (cpu_simd.c) on every path. */
static void product(const aimc_simd_ops_t *ops, const float *w, int64_t rows, int64_t cols,
                    int transposed, const float *v, float *y) {
  if (!ops) ops = aimc_cpu_simd();
  if (transposed)
    ops->dot_cols(w, rows, cols, v, y);
  else
    ops->dot_rows(w, rows, cols, v, y);
}

/* q_o of the PCM read noise: sum over inputs of |w| v^2 (forward: in
 * reduce.h's tree order, as the GPU; backward: rows in order). */
static void pcm_moments(const float *w, int64_t rows, int64_t cols, int transposed,
                        const float *v, float *q) {
  if (!transposed) {
    for (int64_t i = 0; i < rows; ++i) q[i] = aimc_tree_pcm(w + i * cols, v, cols);
    return;
  }
  for (int64_t j = 0; j < cols; ++j) q[j] = 0.0f;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) q[j] += fabsf(w[i * cols + j]) * v[i] * v[i];
}

/* One input vector of one tile through the IO pipeline of direction dir:
 * out = read(W in). w is the tile's rows x cols weights; the random numbers
 * are those of call `call`, sample b of `batch`. Returns the passes made. */
int aimc_cpu_read_vector(const aimc_tile_params_t *tp, int dir, const float *w, int64_t rows,
                         int64_t cols, const float *in, float *out, uint64_t call, int64_t batch,
                         int64_t b, aimc_read_scratch_t *s) {
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;

  if (p->perfect) {
    product(s->ops, w, rows, cols, transposed, in, out);
    for (int64_t o = 0; o < n_out; ++o) out[o] = out[o] * p->out_scale;
    return 1;
  }

  int use_nm = p->nm != AIMC_NM_NONE, use_bm = p->bm != AIMC_BM_NONE;
  float abs_max = 0.0f, max = -INFINITY, pos = 0.0f, neg = 0.0f, nm_s = 1.0f;
  for (int64_t j = 0; j < n_in; ++j) {
    float x = in[j];
    abs_max = fmaxf(abs_max, fabsf(x));
    max = fmaxf(max, x);
  }
  aimc_tree_signed(in, n_in, &pos, &neg); /* reduce.h's order, as the GPU */
  if (use_nm) {
    nm_s = aimc_io_nm_scale(p, p->nm, abs_max, max, pos, neg);
    if (!(nm_s > 0.0f)) {
      if (transposed || !(p->inp_noise > 0.0f)) {
        for (int64_t o = 0; o < n_out; ++o) out[o] = 0.0f;
        return 1;
      }
      use_nm = 0; /* input noise alone still reads: unscaled */
    }
  }
  for (int64_t o = 0; o < n_out; ++o)
    aimc_io_output_constants(p, tp->key, dir, (uint64_t)o, &s->nl[o], &s->sigma[o]);

  int in_random = aimc_io_input_random(p);
  aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
  float r = 1.0f, scale = 1.0f;
  int round = 0;
  for (;;) {
    if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && round == 1 && p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
      nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, abs_max, max, pos, neg);
      use_nm = nm_s > 0.0f;
      r = 1.0f;
    }
    scale = aimc_io_input_scale(use_nm, nm_s, use_bm, r);
    uint64_t base = ((uint64_t)round * (uint64_t)batch + (uint64_t)b);
    for (int64_t j = 0; j < n_in; ++j) {
      aimc_u32x4 wd = in_random ? aimc_io_words(tp->key, dir, 0, call,
                                                base * (uint64_t)n_in + (uint64_t)j)
                                : zero_words;
      s->v[j] = aimc_io_input(p, in[j], scale, wd);
    }
    product(s->ops, w, rows, cols, transposed, s->v, s->y);
    if (p->w_noise_type == AIMC_W_NOISE_PCM_READ)
      pcm_moments(w, rows, cols, transposed, s->v, s->q);
    float q_add = 0.0f;
    if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT)
      q_add = aimc_tree_squares(s->v, n_in); /* reduce.h's order, as the GPU */
    int hit = 0;
    /* the outputs' random numbers, drawn for all outputs in one vector call
     * when any output needs them (an output that does not ignores them) */
    int out_random = 0;
    for (int64_t o = 0; o < n_out && !out_random; ++o)
      out_random = aimc_io_output_random(p, s->sigma[o]);
    if (out_random) {
      const aimc_simd_ops_t *ops = s->ops ? s->ops : aimc_cpu_simd();
      uint32_t kind = (uint32_t)AIMC_STREAM_MVM_OUTPUT + 8u * (uint32_t)dir;
      ops->io_normals(tp->key, aimc_subsequence(kind, call), base * (uint64_t)n_out, n_out, s->z0,
                      s->z1, s->w2);
    }
    for (int64_t o = 0; o < n_out; ++o) {
      float q = p->w_noise_type == AIMC_W_NOISE_PCM_READ ? s->q[o] : q_add;
      if (out_random) {
        float y = aimc_io_weight_noise_z(p, s->y[o], q, s->z0[o]);
        out[o] = aimc_io_output_z(p, y, s->nl[o], s->sigma[o], s->z1[o], s->w2[o], &hit);
      } else {
        float y = aimc_io_weight_noise(p, s->y[o], q, zero_words);
        out[o] = aimc_io_output(p, y, s->nl[o], s->sigma[o], zero_words, &hit);
      }
    }
    if (!use_bm || !hit || !aimc_io_bm_continue(p, r)) break;
    r = r * 2.0f;
    round++;
  }
  float factor = aimc_io_rescale(p, scale);
  if (factor != 1.0f)
    for (int64_t o = 0; o < n_out; ++o) out[o] = out[o] * factor;
  return round + 1;
}

aimc_status_t aimc_cpu_mvm(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                           aimc_tile_stats_t *stats) {
  int64_t n_items = st->n_tiles * a->batch;
  int64_t width = st->rows > st->cols ? st->rows : st->cols;
  int nt = aimc_cpu_threads(ctx, n_items * st->rows * st->cols);
  const aimc_simd_ops_t *ops = aimc_cpu_simd();
  size_t per_thread = (size_t)(AIMC_READ_SCRATCH_ARRAYS * width);
  float *all = malloc((size_t)nt * per_thread * sizeof(float));
  if (!all)
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for read scratch buffers");
#pragma omp parallel num_threads(nt)
  {
    float *buf = all + (size_t)omp_get_thread_num() * per_thread;
    aimc_read_scratch_t s = {buf,         buf + width,     buf + 2 * width,
                             buf + 3 * width, buf + 4 * width, buf + 5 * width,
                             buf + 6 * width, (uint32_t *)(buf + 7 * width), ops};
    int transposed = a->dir == AIMC_BACKWARD || a->dir == AIMC_TRANSFER_BACKWARD;
    int64_t n_in = transposed ? st->rows : st->cols, n_out = transposed ? st->cols : st->rows;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < n_items; ++item) {
      int64_t t = item / a->batch, b = item % a->batch;
      int passes = aimc_cpu_read_vector(
          &st->params[t], a->dir, st->w + t * st->rows * st->cols, st->rows, st->cols,
          a->in + t * a->in_tile_stride + b * n_in, a->out + (t * a->batch + b) * n_out, a->call,
          a->batch, b, &s);
      if (a->dir == AIMC_FORWARD) {
#pragma omp atomic
        stats[t].forward_passes += (uint64_t)passes;
#pragma omp atomic
        stats[t].forward_samples += 1u;
      }
    }
  }
  free(all);
  return AIMC_OK;
}
