/* CPU analog reads: forward (W x), backward (W^T d) and transfer reads of
 * every tile. A work item is a block of up to AIMC_READ_BLOCK samples of one
 * tile: the samples' inputs are prepared one by one, their products made
 * together (each weight loaded once for the block, every sample's sums in
 * its own order), their outputs finished one by one. A sample whose first
 * pass asks bound management for another is read again alone, every pass
 * (aimc_cpu_read_vector), so its bits are those of a read of it alone. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/common/io.h"
#include "kernels/common/reduce.h"
#include "kernels/cpu/cpu.h"

/* Samples of one tile read together: 8 fill the AVX-512 product's
 * registers (cpu_simd_reads_x86.h). */
#define AIMC_READ_BLOCK 8

static int read_transposed(int dir) { return dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD; }

/* y = W v (forward, n_out = rows) or y = W^T v (transposed, n_out = cols)
 * for nb samples (v + s * vs -> y + s * ys), in the order of sums of the
 * portable kernels (cpu_simd.c) on every path. */
static void products(const aimc_simd_ops_t *ops, const float *w, int64_t rows, int64_t cols,
                     int transposed, const float *v, int64_t vs, int64_t nb, float *y,
                     int64_t ys) {
  if (nb == 1) {
    if (transposed) ops->dot_cols(w, rows, cols, v, y);
    else ops->dot_rows(w, rows, cols, v, y);
  } else if (transposed) {
    ops->dot_cols_n(w, rows, cols, v, vs, nb, y, ys);
  } else {
    ops->dot_rows_n(w, rows, cols, v, vs, nb, y, ys);
  }
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

/* Noise management of one input vector before its first pass. */
typedef struct read_start {
  float abs_max, max, pos, neg, nm_s;
  int use_nm;
} read_start_t;

/* The input reductions and the noise-management scale of one input; 0
 * when the read's outputs are all zero (nothing to scale by). */
static int read_begin(const aimc_io_params_t *p, const aimc_simd_ops_t *ops, int transposed,
                      const float *in, int64_t n_in, read_start_t *rs) {
  rs->use_nm = p->nm != AIMC_NM_NONE;
  rs->nm_s = 1.0f;
  /* reduce.h's order for pos, neg, as the GPU */
  ops->io_stats(in, n_in, &rs->abs_max, &rs->max, &rs->pos, &rs->neg);
  if (rs->use_nm) {
    rs->nm_s = aimc_io_nm_scale(p, p->nm, rs->abs_max, rs->max, rs->pos, rs->neg);
    if (!(rs->nm_s > 0.0f)) {
      if (transposed || !(p->inp_noise > 0.0f)) return 0;
      rs->use_nm = 0; /* input noise alone still reads: unscaled */
    }
  }
  return 1;
}

/* The per-output constants of the tile (s->nl, s->sigma); returns whether
 * the outputs draw random numbers (an output that does not ignores them). */
static int read_constants(const aimc_tile_params_t *tp, int dir, int64_t n_out,
                          aimc_read_scratch_t *s) {
  const aimc_io_params_t *p = &tp->io[dir];
  int out_random = 0;
  for (int64_t o = 0; o < n_out; ++o) {
    aimc_io_output_constants(p, tp->key, dir, (uint64_t)o, &s->nl[o], &s->sigma[o]);
    out_random = out_random || aimc_io_output_random(p, s->sigma[o]);
  }
  return out_random;
}

/* The analog inputs v of pass `base` (= round * batch + sample). */
static void read_inputs(const aimc_tile_params_t *tp, int dir, const aimc_simd_ops_t *ops,
                        const float *in, int64_t n_in, float scale, uint64_t call, uint64_t base,
                        float *v) {
  const aimc_io_params_t *p = &tp->io[dir];
  if (!aimc_io_input_random(p)) {
    ops->io_inputs(p, in, n_in, scale, v);
    return;
  }
  for (int64_t j = 0; j < n_in; ++j)
    v[j] = aimc_io_input(p, in[j], scale,
                         aimc_io_words(tp->key, dir, 0, call, base * (uint64_t)n_in + (uint64_t)j));
}

/* The outputs of pass `base` from its product y and inputs v: weight
 * noise, output noise, ADC, clip. Returns whether an output hit. */
static int read_outputs(const aimc_tile_params_t *tp, int dir, const float *w, int64_t rows,
                        int64_t cols, const float *v, const float *y, uint64_t call,
                        uint64_t base, int out_random, aimc_read_scratch_t *s, float *out) {
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = read_transposed(dir);
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;
  const float *q_o = NULL;
  float q_add = 0.0f;
  if (p->w_noise_type == AIMC_W_NOISE_PCM_READ) {
    pcm_moments(w, rows, cols, transposed, v, s->q);
    q_o = s->q;
  } else if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT) {
    q_add = aimc_tree_squares(v, n_in); /* reduce.h's order, as the GPU */
  }
  if (!out_random)
    return s->ops->io_outputs(p, y, q_o, q_add, s->nl, s->sigma, NULL, NULL, NULL, n_out, out);
  uint32_t kind = (uint32_t)AIMC_STREAM_MVM_OUTPUT + 8u * (uint32_t)dir;
  s->ops->io_normals(tp->key, aimc_subsequence(kind, call), base * (uint64_t)n_out, n_out, s->z0,
                     s->z1, s->w2);
  return s->ops->io_outputs(p, y, q_o, q_add, s->nl, s->sigma, s->z0, s->z1, s->w2, n_out, out);
}

static void scale_outputs(float *out, int64_t n, float factor) {
  if (factor != 1.0f)
    for (int64_t o = 0; o < n; ++o) out[o] = out[o] * factor;
}

/* One input vector of one tile through the IO pipeline of direction dir:
 * out = read(W in). w is the tile's rows x cols weights; the random numbers
 * are those of call `call`, sample b of `batch`. Returns the passes made. */
int aimc_cpu_read_vector(const aimc_tile_params_t *tp, int dir, const float *w, int64_t rows,
                         int64_t cols, const float *in, float *out, uint64_t call, int64_t batch,
                         int64_t b, aimc_read_scratch_t *s) {
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = read_transposed(dir);
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;
  if (!s->ops) s->ops = aimc_cpu_simd();

  if (p->perfect) {
    products(s->ops, w, rows, cols, transposed, in, n_in, 1, out, n_out);
    for (int64_t o = 0; o < n_out; ++o) out[o] = out[o] * p->out_scale;
    return 1;
  }
  read_start_t rs;
  if (!read_begin(p, s->ops, transposed, in, n_in, &rs)) {
    for (int64_t o = 0; o < n_out; ++o) out[o] = 0.0f;
    return 1;
  }
  int out_random = read_constants(tp, dir, n_out, s);
  int use_nm = rs.use_nm, use_bm = p->bm != AIMC_BM_NONE;
  float nm_s = rs.nm_s, r = 1.0f, scale = 1.0f;
  int round = 0;
  for (;;) {
    if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && round == 1 && p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
      nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, rs.abs_max, rs.max, rs.pos, rs.neg);
      use_nm = nm_s > 0.0f;
      r = 1.0f;
    }
    scale = aimc_io_input_scale(use_nm, nm_s, use_bm, r);
    uint64_t base = ((uint64_t)round * (uint64_t)batch + (uint64_t)b);
    read_inputs(tp, dir, s->ops, in, n_in, scale, call, base, s->v);
    products(s->ops, w, rows, cols, transposed, s->v, n_in, 1, s->y, n_out);
    int hit = read_outputs(tp, dir, w, rows, cols, s->v, s->y, call, base, out_random, s, out);
    if (!use_bm || !hit || !aimc_io_bm_continue(p, r)) break;
    r = r * 2.0f;
    round++;
  }
  scale_outputs(out, n_out, aimc_io_rescale(p, scale));
  return round + 1;
}

/* Samples b0 .. b0+nb-1 (nb <= AIMC_READ_BLOCK) of one tile, inputs
 * in + k * n_in, outputs out + k * n_out: aimc_cpu_read_vector of each, the
 * first passes' products made together in vb (inputs) and yb (products).
 * Returns the passes made. */
static int64_t read_block(const aimc_tile_params_t *tp, int dir, const float *w, int64_t rows,
                          int64_t cols, const float *in, float *out, uint64_t call, int64_t batch,
                          int64_t b0, int64_t nb, aimc_read_scratch_t *s, float *vb, float *yb) {
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = read_transposed(dir);
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;
  if (p->perfect) {
    products(s->ops, w, rows, cols, transposed, in, n_in, nb, out, n_out);
    for (int64_t o = 0; o < nb * n_out; ++o) out[o] = out[o] * p->out_scale;
    return nb;
  }
  int use_bm = p->bm != AIMC_BM_NONE;
  int64_t passes = 0, na = 0, idx[AIMC_READ_BLOCK];
  float scale[AIMC_READ_BLOCK];
  for (int64_t k = 0; k < nb; ++k) {
    read_start_t rs;
    if (!read_begin(p, s->ops, transposed, in + k * n_in, n_in, &rs)) {
      for (int64_t o = 0; o < n_out; ++o) out[k * n_out + o] = 0.0f;
      passes++;
      continue;
    }
    scale[na] = aimc_io_input_scale(rs.use_nm, rs.nm_s, use_bm, 1.0f);
    read_inputs(tp, dir, s->ops, in + k * n_in, n_in, scale[na], call, (uint64_t)(b0 + k),
                vb + na * n_in);
    idx[na++] = k;
  }
  if (na == 0) return passes;
  int out_random = read_constants(tp, dir, n_out, s);
  products(s->ops, w, rows, cols, transposed, vb, n_in, na, yb, n_out);
  for (int64_t a = 0; a < na; ++a) {
    int64_t k = idx[a];
    float *o = out + k * n_out;
    int hit = read_outputs(tp, dir, w, rows, cols, vb + a * n_in, yb + a * n_out, call,
                           (uint64_t)(b0 + k), out_random, s, o);
    if (use_bm && hit && aimc_io_bm_continue(p, 1.0f)) {
      passes += aimc_cpu_read_vector(tp, dir, w, rows, cols, in + k * n_in, o, call, batch, b0 + k,
                                     s);
      continue;
    }
    scale_outputs(o, n_out, aimc_io_rescale(p, scale[a]));
    passes++;
  }
  return passes;
}

/* Samples per work item: AIMC_READ_BLOCK, fewer when the tiles would
 * otherwise leave a thread without a block (the bits do not depend on it). */
static int64_t read_block_size(int64_t n_tiles, int64_t batch, int nt) {
  int64_t per_tile = (nt + n_tiles - 1) / n_tiles; /* blocks each tile should give */
  int64_t nb = (batch + per_tile - 1) / per_tile;
  if (nb > AIMC_READ_BLOCK) nb = AIMC_READ_BLOCK;
  return nb < 1 ? 1 : nb;
}

/* The scratch of one thread of a read in the block `all`. */
typedef struct read_thread {
  aimc_read_scratch_t s;
  float *vb, *yb; /* [nb][width] inputs and outputs of a block of samples */
} read_thread_t;

static read_thread_t read_thread(float *all, size_t per_thread, int k, int64_t width, int64_t nb,
                                 const aimc_simd_ops_t *ops) {
  float *buf = all + (size_t)k * per_thread;
  read_thread_t r = {{buf, buf + width, buf + 2 * width, buf + 3 * width, buf + 4 * width,
                      buf + 5 * width, buf + 6 * width, (uint32_t *)(buf + 7 * width), ops},
                     buf + AIMC_READ_SCRATCH_ARRAYS * width,
                     buf + AIMC_READ_SCRATCH_ARRAYS * width + nb * width};
  return r;
}

/* Work item `item` of a read: a block of up to nb samples of one tile. */
static void read_item(const aimc_state_t *st, const aimc_mvm_args_t *a, int64_t item,
                      int64_t blocks, int64_t nb, read_thread_t *r, aimc_tile_stats_t *stats) {
  int64_t n_in = read_transposed(a->dir) ? st->rows : st->cols;
  int64_t n_out = read_transposed(a->dir) ? st->cols : st->rows;
  int64_t t = item / blocks, b0 = (item % blocks) * nb;
  int64_t m = a->batch - b0 < nb ? a->batch - b0 : nb;
  int64_t passes = read_block(&st->params[t], a->dir, st->w + t * st->rows * st->cols, st->rows,
                              st->cols, a->in + t * a->in_tile_stride + b0 * n_in,
                              a->out + (t * a->batch + b0) * n_out, a->call, a->batch, b0, m,
                              &r->s, r->vb, r->yb);
  if (a->dir == AIMC_FORWARD) {
#pragma omp atomic
    stats[t].forward_passes += (uint64_t)passes;
#pragma omp atomic
    stats[t].forward_samples += (uint64_t)m;
  }
}

aimc_status_t aimc_cpu_mvm(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                           aimc_tile_stats_t *stats) {
  int64_t width = st->rows > st->cols ? st->rows : st->cols;
  int nt = aimc_cpu_threads(ctx, st->n_tiles * a->batch * st->rows * st->cols);
  int64_t nb = read_block_size(st->n_tiles, a->batch, nt);
  int64_t blocks = (a->batch + nb - 1) / nb, n_items = st->n_tiles * blocks;
  const aimc_simd_ops_t *ops = aimc_cpu_env(ctx)->simd;
  size_t per_thread = (size_t)((AIMC_READ_SCRATCH_ARRAYS + 2 * nb) * width);
  size_t bytes = (size_t)nt * per_thread * sizeof(float);
  aimc_cpu_arena_t *ar = aimc_cpu_arena_take(ctx);
  float *all = NULL;
  if (ar && aimc_cpu_arena_begin(ar, bytes)) all = aimc_cpu_carve(ar, bytes);
  if (!all) {
    if (ar) aimc_cpu_arena_give(ctx, ar);
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for read scratch buffers");
  }
  if (nt == 1) {
    read_thread_t r = read_thread(all, per_thread, 0, width, nb, ops);
    for (int64_t item = 0; item < n_items; ++item) read_item(st, a, item, blocks, nb, &r, stats);
  } else {
#pragma omp parallel num_threads(nt)
    {
      read_thread_t r = read_thread(all, per_thread, omp_get_thread_num(), width, nb, ops);
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < n_items; ++item) read_item(st, a, item, blocks, nb, &r, stats);
    }
  }
  aimc_cpu_arena_give(ctx, ar);
  return AIMC_OK;
}
