/* CPU pulsed update of one array of every tile.
 *
 * Per tile: BL/A/B of every sample; then, a chunk of samples at a time, the
 * bit-packed pulse trains of all input and output lines; then, row by row,
 * the signed pulse counts of every weight and sample (popcounts), each
 * weight's cycle-to-cycle normals for the whole chunk drawn in one vector
 * call (its own stream positions, exactly the draws of the streaming loop),
 * and every weight walks the samples in order applying its pulses through
 * the device rule, 8 or 16 weights per instruction on the SIMD paths
 * (kernels/cpu/cpu_simd*.c). Pulse trains depend only on x and d, so walking
 * weight by weight gives exactly the sample-by-sample result. Many tiles are
 * spread over threads; a few large tiles split their lines and rows. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/state.h"
#include "kernels/common/update.h"
#include "kernels/cpu/cpu.h"

#define PULSED_BIT 0x80000000u

/* Normals of the weights of one segment of a row, drawn in one vector call:
 * weight j's normals next_j .. next_j + total_j - 1 of its own stream (block
 * (widx << 32) + position / 4, as aimc_normal_stream), so each pulse gets
 * exactly the draw the streaming loop would give it. */
#define NORMAL_BLOCKS_CAP 8192

/* Per-thread buffers of the row loop. */
typedef struct row_buf {
  uint64_t *blocks; /* [cap + 2] */
  float *z;         /* [4 * cap] */
  int32_t *off;     /* [cols] first block of weight j in the buffer; -1 none, -2 stream */
  int32_t *zpos;    /* [cols] index of weight j's first normal in z; -1 skip */
  uint32_t *total;  /* [cols] pulses of weight j in this chunk */
  int32_t *cnt;     /* [nl][cols] signed pulse counts of the counted samples, > 0 up */
  int32_t *nwc;     /* [chunk] train words of each sample (0: no train) */
  int32_t *live_c;  /* [chunk] the counted samples of the row, in order */
  int64_t nl;       /* how many */
  int32_t *pj;      /* [cols] the pulsed weights of the row, in order (first chunks) */
  int64_t npj;      /* how many */
  float *wn, *wn1;  /* [cols] write-noise normals of a row segment (and their unused twins) */
  uint32_t *wn2;    /* [cols] the unused third words of their blocks */
  int streamed;     /* whether a weight of the segment takes its own stream (off -2) */
  int64_t cap;      /* normal blocks the buffer holds: at most NORMAL_BLOCKS_CAP */
} row_buf_t;

typedef struct scratch {
  aimc_blab_t *blab;   /* [batch] */
  uint32_t *words;     /* [cols + rows][chunk][nw] pulse trains */
  float *level;        /* [cols + rows][chunk] q or counts of the deterministic types */
  uint8_t *neg;        /* [cols + rows][chunk] sign of the line value */
  uint8_t *neg_x;      /* [chunk][cols] the x signs again, sample-major for the row loops */
  uint32_t *words_x;   /* [chunk][cols][nw] the x trains again, sample-major */
  uint32_t *next;      /* [rows * cols] noise-stream position of each weight */
  float *acc;          /* [n_acc][cols] rows of the exact updates, one per thread */
  row_buf_t *rb;       /* [n_rb] the row buffers, one per thread of the row loop */
} scratch_t;

typedef struct plan {
  int64_t chunk;       /* samples per chunk */
  int32_t nw;          /* words per train */
  int skip_empty;      /* rows without pulses skipped (aimc_cpu_env_t) */
  const aimc_simd_ops_t *ops;
} plan_t;

/* The update parameters of tile t for this call: the selected descriptor,
 * with the call's per-tile rate and the exact mode applied. */
static aimc_update_params_t params_for(const aimc_state_t *st, const aimc_update_args_t *a,
                                       int64_t t) {
  aimc_update_params_t u = st->params[t].upd[a->upd];
  if (a->lr) u.lr = a->lr[t];
  if (a->exact) u.pulse_type = AIMC_PULSE_NONE;
  return u;
}

static int is_exact(int32_t pulse_type) {
  return pulse_type == AIMC_PULSE_NONE || pulse_type == AIMC_PULSE_NONE_WITH_DEVICE;
}

static int32_t max_bl(const aimc_state_t *st, const aimc_update_args_t *a) {
  int32_t m = 1;
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    aimc_update_params_t u = params_for(st, a, t);
    int32_t bl = u.desired_bl;
    if (!u.fixed_bl && !u.ublm && u.granularity * (float)u.desired_bl < u.lr)
      bl = (int32_t)aimc_minf(ceilf(u.lr / u.granularity), (float)AIMC_MAX_BL);
    if (bl > m) m = bl;
  }
  return m;
}

/* The chunk of samples whose pulse trains are held at once (the budget of
 * aimc_cpu_env_t: the tests shrink it to check that chunking leaves results
 * unchanged) and the switches read once per context. */
static plan_t make_plan(const aimc_cpu_env_t *env, const aimc_state_t *st,
                        const aimc_update_args_t *a) {
  plan_t p;
  p.nw = AIMC_TRAIN_WORDS(max_bl(st, a));
  size_t per_sample = (size_t)(st->rows + st->cols) * ((size_t)p.nw * 4u + 4u + 1u) +
                      (size_t)st->cols * ((size_t)p.nw * 4u + 1u); /* the sample-major copies */
  int64_t c = (int64_t)(env->train_budget / per_sample);
  p.chunk = c < 1 ? 1 : (c > a->batch ? a->batch : c);
  p.skip_empty = env->skip_empty_rows;
  p.ops = env->simd;
  return p;
}

static int carve_row_buf(aimc_cpu_arena_t *ar, row_buf_t *rb, int64_t cols, int64_t chunk,
                         int32_t nw);

/* The buffers of one scratch from the arena (a pass of aimc_cpu_carve):
 * n_acc exact-update rows and n_rb row buffers. 1 when all fit. */
static int carve_scratch(aimc_cpu_arena_t *ar, scratch_t *s, const aimc_state_t *st,
                         int64_t batch, const plan_t *p, int n_acc, int n_rb) {
  size_t lines = (size_t)(st->rows + st->cols) * (size_t)p->chunk;
  s->blab = aimc_cpu_carve(ar, (size_t)batch * sizeof *s->blab);
  s->words = aimc_cpu_carve(ar, lines * (size_t)p->nw * sizeof *s->words);
  s->level = aimc_cpu_carve(ar, lines * sizeof *s->level);
  s->neg = aimc_cpu_carve(ar, lines);
  s->neg_x = aimc_cpu_carve(ar, (size_t)st->cols * (size_t)p->chunk);
  s->words_x = aimc_cpu_carve(
      ar, (size_t)st->cols * (size_t)p->chunk * (size_t)p->nw * sizeof *s->words_x);
  s->next = aimc_cpu_carve(ar, (size_t)st->rows * (size_t)st->cols * sizeof *s->next);
  s->acc = aimc_cpu_carve(ar, (size_t)n_acc * (size_t)st->cols * sizeof *s->acc);
  s->rb = aimc_cpu_carve(ar, (size_t)n_rb * sizeof *s->rb);
  int ok = s->blab && s->words && s->level && s->neg && s->neg_x && s->words_x && s->next &&
           s->acc && s->rb;
  for (int k = 0; k < n_rb; ++k) {
    row_buf_t counted; /* the bytes are counted even where the array did not fit */
    ok &= carve_row_buf(ar, s->rb ? &s->rb[k] : &counted, st->cols, p->chunk, p->nw);
  }
  return ok;
}

/* n_scratch scratches from the context's arena, grown when they do not fit
 * (NULL: out of memory). */
static scratch_t *carve_scratches(aimc_cpu_arena_t *ar, const aimc_state_t *st, int64_t batch,
                                  const plan_t *p, int n_scratch, int per_scratch) {
  for (int pass = 0; pass < 2; ++pass) {
    if (!aimc_cpu_arena_begin(ar, pass ? ar->used : 0)) return NULL;
    scratch_t *s = aimc_cpu_carve(ar, (size_t)n_scratch * sizeof *s);
    int ok = s != NULL;
    for (int k = 0; k < n_scratch; ++k) {
      scratch_t counted;
      ok &= carve_scratch(ar, s ? &s[k] : &counted, st, batch, p, per_scratch, per_scratch);
    }
    if (ok) return s;
  }
  return NULL;
}

/* Line value with the chopper sign applied (x by c_in, d by c_out). */
static float line_value(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t, int is_x,
                        int64_t idx, float v) {
  if (!a->chopped) return v;
  int8_t c = is_x ? st->c_in[t * st->cols + idx] : st->c_out[t * st->rows + idx];
  return c < 0 ? -v : v;
}

/* Row i of tile t in an exact update: NONE (ideal float device, W -= lr
 * sum_b d_b x_b^T, the sum over samples in order, accumulated in acc) and
 * NONE_WITH_DEVICE (per sample, the device state clipped to its bounds after
 * each step). */
static void exact_row(aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                      const aimc_update_params_t *u, int64_t i, float *acc) {
  const aimc_tile_params_t *tp = &st->params[t];
  aimc_array_t *arr = &st->arr[a->array];
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols;
  const float *x = a->x + t * a->x_tile_stride;
  const float *d = a->d + t * a->d_tile_stride;
  float lr = u->lr;
  int with_device = u->pulse_type == AIMC_PULSE_NONE_WITH_DEVICE;
  int64_t k0 = t * per_tile + i * cols;
  for (int64_t j = 0; j < cols; ++j) acc[j] = 0.0f;
  if (!with_device) {
    for (int64_t b = 0; b < a->batch; ++b) {
      float di = line_value(st, a, t, 0, i, d[b * rows + i]);
      const float *xb = x + b * cols;
      for (int64_t j = 0; j < cols; ++j) acc[j] += di * line_value(st, a, t, 1, j, xb[j]);
    }
    for (int64_t j = 0; j < cols; ++j) {
      aimc_wparams_t wp;
      aimc_load_wparams(arr, (size_t)(k0 + j), &wp);
      float w = arr->w[k0 + j] - lr * acc[j];
      arr->h[k0 + j] = w + wp.ref;
      arr->w[k0 + j] = w;
    }
    return;
  }
  for (int64_t b = 0; b < a->batch; ++b) { /* acc[j] != 0 marks written devices */
    float di = lr * line_value(st, a, t, 0, i, d[b * rows + i]);
    if (di == 0.0f) continue;
    const float *xb = x + b * cols;
    for (int64_t j = 0; j < cols; ++j) {
      float xj = line_value(st, a, t, 1, j, xb[j]);
      if (xj == 0.0f) continue;
      aimc_wparams_t wp;
      aimc_load_wparams(arr, (size_t)(k0 + j), &wp);
      arr->h[k0 + j] = aimc_clampf(arr->h[k0 + j] - di * xj, wp.bmin, wp.bmax);
      acc[j] = 1.0f;
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    if (acc[j] == 0.0f) continue;
    aimc_wparams_t wp;
    aimc_load_wparams(arr, (size_t)(k0 + j), &wp);
    arr->w[k0 + j] = aimc_refresh_visible(tp, a->array, arr->h[k0 + j], wp.ref, a->write_call,
                                          (uint64_t)(i * cols + j));
  }
}

/* The rows of tile t (exact_row), split over nt threads when inner. */
static void update_exact(aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                         const aimc_update_params_t *u, float *acc_all, int inner, int nt) {
  if (!inner) {
    for (int64_t i = 0; i < st->rows; ++i) exact_row(st, a, t, u, i, acc_all);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < st->rows; ++i)
    exact_row(st, a, t, u, i, acc_all + (size_t)omp_get_thread_num() * (size_t)st->cols);
}

#define TRAIN_LINES 64 /* lines of one sample per vector train call */

/* Whether any of the m probabilities p[0], p[stride], ... is > 0 (a train
 * can have a pulse). */
static int any_positive(const float *p, size_t stride, int64_t m) {
  int any = 0;
  for (int64_t k = 0; k < m; ++k) any |= p[(size_t)k * stride] > 0.0f;
  return any;
}

/* Train tasks of one chunk: TRAIN_LINES lines of one kind (x or d) and one
 * sample each, per block of lines of both kinds and sample. */
static int64_t train_tasks(const aimc_state_t *st, int64_t nb) {
  return nb * ((st->cols + TRAIN_LINES - 1) / TRAIN_LINES +
               (st->rows + TRAIN_LINES - 1) / TRAIN_LINES);
}

/* The pulse trains of one train task of a chunk from the lines'
 * probabilities, one vector call; the x trains also sample-major (words_x)
 * for the row loops. */
static void train_task(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t, int64_t b0,
                       const plan_t *pl, scratch_t *s, int64_t task) {
  const aimc_tile_params_t *tp = &st->params[t];
  const aimc_simd_ops_t *ops = pl->ops;
  int64_t rows = st->rows, cols = st->cols;
  int64_t bx = (cols + TRAIN_LINES - 1) / TRAIN_LINES, bd = (rows + TRAIN_LINES - 1) / TRAIN_LINES;
  size_t nw = (size_t)pl->nw, chunk = (size_t)pl->chunk;
  aimc_update_streams_t rs = aimc_update_streams(a->array, a->call);
  int64_t c = task / (bx + bd), blk = task % (bx + bd), b = b0 + c;
  int32_t bl = s->blab[b].bl;
  if (bl == 0) return;
  int is_x = blk < bx;
  int64_t n = is_x ? cols : rows, first = (is_x ? blk : blk - bx) * TRAIN_LINES;
  int64_t m = n - first < TRAIN_LINES ? n - first : TRAIN_LINES;
  size_t l = (size_t)(is_x ? first : cols + first); /* line index of the first line */
  size_t slot = l * chunk + (size_t)c;
  if (any_positive(s->level + slot, chunk, m))
    ops->make_trains(tp->key, is_x ? rs.x : rs.d, (uint64_t)(b * n + first), s->level + slot,
                     (int64_t)chunk, m, bl, s->words + slot * nw, (int64_t)(chunk * nw));
  else /* aimc_make_train of p <= 0 is empty: zero inputs, small errors */
    for (int64_t k = 0; k < m; ++k)
      memset(s->words + (slot + (size_t)k * chunk) * nw, 0,
             (size_t)AIMC_TRAIN_WORDS(bl) * sizeof *s->words);
  if (is_x)
    for (int64_t k = 0; k < m; ++k)
      memcpy(s->words_x + ((size_t)c * (size_t)cols + (size_t)(first + k)) * nw,
             s->words + (slot + (size_t)k * chunk) * nw, nw * sizeof *s->words);
}

/* The values of line l in the samples of one chunk: the probabilities
 * (stochastic) or levels (deterministic) and the signs. Lines 0..cols-1 are
 * inputs x, cols..cols+rows-1 outputs d. */
static void line_levels(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                        const aimc_update_params_t *u, int64_t b0, int64_t nb, const plan_t *pl,
                        scratch_t *s, int64_t l) {
  const aimc_tile_params_t *tp = &st->params[t];
  int64_t rows = st->rows, cols = st->cols;
  const float *x = a->x + t * a->x_tile_stride;
  const float *d = a->d + t * a->d_tile_stride;
  aimc_update_streams_t rs = aimc_update_streams(a->array, a->call);
  int is_x = l < cols;
  int64_t idx = is_x ? l : l - cols, n = is_x ? cols : rows;
  for (int64_t c = 0; c < nb; ++c) {
    int64_t b = b0 + c;
    size_t slot = (size_t)(l * pl->chunk + c);
    const aimc_blab_t *bb = &s->blab[b];
    float v = line_value(st, a, t, is_x, idx, is_x ? x[b * cols + idx] : d[b * rows + idx]);
    uint64_t sample_line = (uint64_t)(b * n + idx);
    float level = aimc_line_level(u, tp->key, rs.round, sample_line, is_x, v,
                                  is_x ? bb->b : bb->a, bb->bl);
    s->neg[slot] = v < 0.0f;
    if (is_x) s->neg_x[(size_t)c * (size_t)cols + (size_t)idx] = v < 0.0f;
    s->level[slot] = level;
  }
}

/* Line values of one chunk: levels of every line, then the trains of the
 * stochastic type (from the levels). */
static void make_lines(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                       const aimc_update_params_t *u, int64_t b0, int64_t nb, const plan_t *pl,
                       scratch_t *s, int inner, int nt) {
  int64_t n_lines = st->rows + st->cols, n_tasks = train_tasks(st, nb);
  int trains = u->pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
  if (!inner) {
    for (int64_t l = 0; l < n_lines; ++l) line_levels(st, a, t, u, b0, nb, pl, s, l);
    for (int64_t k = 0; trains && k < n_tasks; ++k) train_task(st, a, t, b0, pl, s, k);
    return;
  }
  /* one thread team for the levels and the trains (a team start costs more
   * than a barrier at small batches) */
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int64_t l = 0; l < n_lines; ++l) line_levels(st, a, t, u, b0, nb, pl, s, l);
    if (trains) {
#pragma omp for schedule(static)
      for (int64_t k = 0; k < n_tasks; ++k) train_task(st, a, t, b0, pl, s, k);
    }
  }
}

/* What the pulse loop of one tile and chunk reads. */
typedef struct pulse_job {
  const aimc_device_params_t *dev;
  aimc_array_t *arr;
  const aimc_update_params_t *u;
  const plan_t *pl;
  scratch_t *s;
  const aimc_simd_ops_t *ops;
  uint64_t key, sub;
  int64_t t, b0, nb, cols, per_tile;
  int stochastic, noisy, last_chunk, array;
  int skip_empty; /* rows without pulses skipped (row_trains); 0: every row walked */
  uint64_t write_call;
  const aimc_tile_params_t *tp;
} pulse_job_t;

/* Pulse count of the weight of row line dl and column line xl in sample c
 * of the chunk (0 when the sample has no train). */
static int32_t pulse_count(const pulse_job_t *jb, size_t xl, size_t dl, int64_t c) {
  int32_t bl = jb->s->blab[jb->b0 + c].bl;
  if (bl == 0) return 0;
  const scratch_t *s = jb->s;
  size_t nw = (size_t)jb->pl->nw;
  if (jb->stochastic)
    return aimc_coincidences(s->words + (xl + (size_t)c) * nw, s->words + (dl + (size_t)c) * nw,
                             AIMC_TRAIN_WORDS(bl));
  return aimc_implicit_count(jb->u->pulse_type, bl, s->level[xl + (size_t)c],
                             s->level[dl + (size_t)c]);
}

/* The vector pulse kernel of a device, or -1 for the models pulsed weight
 * by weight through aimc_device_pulse. */
static int pulse_kernel(const aimc_device_params_t *p) {
  switch (p->model) {
    case AIMC_DEVICE_CONSTANT_STEP:
      return AIMC_PULSE_KERNEL_CONSTANT;
    case AIMC_DEVICE_LINEAR_STEP:
    case AIMC_DEVICE_SOFT_BOUNDS:
      return p->mult_noise ? AIMC_PULSE_KERNEL_LINEAR_MULT : AIMC_PULSE_KERNEL_LINEAR;
    case AIMC_DEVICE_SOFT_BOUNDS_REFERENCE:
      return p->mult_noise ? AIMC_PULSE_KERNEL_SBREF_MULT : AIMC_PULSE_KERNEL_SBREF;
    case AIMC_DEVICE_EXP_STEP:
      return p->exp_complex_noise ? AIMC_PULSE_KERNEL_EXP_COMPLEX : AIMC_PULSE_KERNEL_EXP;
    default:
      return -1;
  }
}

/* Signed pulse counts of every weight of row i and sample of the chunk:
 * coincidences (stochastic) or the deterministic counts, negative when the
 * weight goes down (W -= lr d x^T: up when d and x differ in sign). */
static void row_counts(const pulse_job_t *jb, int64_t i, row_buf_t *rb, uint64_t *up_total,
                       uint64_t *down_total) {
  const scratch_t *s = jb->s;
  size_t chunk = (size_t)jb->pl->chunk;
  size_t dl = (size_t)(jb->cols + i) * chunk;
  int64_t cols = jb->cols;
  if (jb->stochastic) { /* rb->nwc, live_c from row_trains */
    size_t nw = (size_t)jb->pl->nw;
    for (int64_t k = 0; k < rb->nl; ++k) {
      size_t c = (size_t)rb->live_c[k];
      jb->ops->coincidences(s->words_x + c * (size_t)cols * nw, (int64_t)nw, 0,
                            s->words + (dl + c) * nw, 0, rb->nwc + c, 1, cols, cols,
                            rb->cnt + k * cols);
    }
  } else {
    for (int64_t k = 0; k < rb->nl; ++k)
      for (int64_t j = 0; j < cols; ++j)
        rb->cnt[k * cols + j] = pulse_count(jb, (size_t)j * chunk, dl, rb->live_c[k]);
  }
  for (int64_t j = 0; j < cols; ++j) rb->total[j] = 0;
  uint64_t all = 0, up = 0;
  for (int64_t k = 0; k < rb->nl; ++k) {
    int64_t c = rb->live_c[k];
    /* a sample without a d train has a row of zeros: nothing to count */
    if (jb->stochastic && rb->nwc[c] == 0) continue;
    int32_t *row = rb->cnt + k * cols;
    const uint8_t *nx = s->neg_x + (size_t)c * (size_t)cols;
    int32_t flip = s->neg[dl + (size_t)c] ? -1 : 0; /* all ones when d < 0 */
    uint32_t row_all = 0, row_down = 0;
    for (int64_t j = 0; j < cols; ++j) {
      int32_t n = row[j] > 0 ? row[j] : 0;
      rb->total[j] += (uint32_t)n;
      /* up (positive) when the signs of x and d differ: negate when equal */
      int32_t same = ~(flip ^ -(int32_t)nx[j]); /* all ones when the signs agree */
      row[j] = (n ^ same) - same;
      row_all += (uint32_t)n;
      row_down += (uint32_t)n & (uint32_t)same;
    }
    all += row_all;
    up += row_all - row_down;
  }
  *up_total += up;
  *down_total += all - up;
}

/* One weight through the chunk's samples from the count matrix: noise from
 * buffered normals (z at the weight's first normal) or from its stream (z
 * NULL, only for a weight whose normals do not fit the buffer). */
static float pulse_counts_scalar(const pulse_job_t *jb, const row_buf_t *rb, int64_t i, int64_t j,
                                 const float *z, uint32_t next) {
  int64_t widx = i * jb->cols + j, k = jb->t * jb->per_tile + widx;
  aimc_wparams_t wp;
  aimc_load_wparams(jb->arr, (size_t)k, &wp);
  aimc_normal_stream_t ns;
  aimc_normal_stream_init(&ns, jb->key, jb->sub, (uint64_t)widx << 32);
  if (!z && jb->noisy) aimc_normal_stream_seek(&ns, next);
  float h = jb->arr->h[k];
  uint32_t q = 0;
  for (int64_t c = 0; c < rb->nl; ++c) {
    int32_t n = rb->cnt[c * jb->cols + j];
    if (n == 0) continue;
    int up = n > 0;
    uint32_t m = (uint32_t)(up ? n : -n);
    if (z) {
      for (uint32_t r = 0; r < m; ++r, ++q)
        h = aimc_device_pulse(jb->dev, &wp, h, up, jb->noisy ? z[q] : 0.0f);
    } else {
      h = aimc_device_pulses(jb->dev, &wp, h, up, m, &ns);
    }
  }
  return h;
}

/* The carried state of weight j after this chunk (noise position, pulsed
 * flag) and, in the last chunk, the visible weight of a pulsed device. */
static void finish_weight(const pulse_job_t *jb, const row_buf_t *rb, int64_t i, int64_t j) {
  int64_t widx = i * jb->cols + j, k = jb->t * jb->per_tile + widx;
  uint32_t carried = jb->b0 == 0 ? 0u : jb->s->next[widx];
  uint32_t total = rb->total[j];
  if (total > 0) carried = PULSED_BIT | ((carried & ~PULSED_BIT) + (jb->noisy ? total : 0u));
  jb->s->next[widx] = carried;
  if (jb->last_chunk && (carried & PULSED_BIT)) {
    /* only the reference: aimc_load_wparams would read every plane (the
     * update's largest memory stream at batch 1) */
    const float *ref = jb->arr->plane[AIMC_PLANE_REFERENCE];
    jb->arr->w[k] = aimc_refresh_visible(jb->tp, jb->array, jb->arr->h[k], ref ? ref[k] : 0.0f,
                                         jb->write_call, (uint64_t)widx);
  }
}

/* Weights j0 .. j1-1 of row i when the call is one chunk (the usual case):
 * nothing is carried in or out, so only the pulsed weights' visible values
 * are written (h - reference, plus write noise when the device has it). The
 * write noise of weight widx is aimc_normal1 of block widx of the call's
 * write-noise stream (aimc_refresh_visible), drawn here for the whole
 * segment in one vector call: the first normal of each block. */
static void finish_single_chunk(const pulse_job_t *jb, const row_buf_t *rb, int64_t i, int64_t j0,
                                int64_t j1, int kernel) {
  int64_t k0 = jb->t * jb->per_tile + i * jb->cols;
  const float *ref = jb->arr->plane[AIMC_PLANE_REFERENCE];
  float *h = jb->arr->h, *w = jb->arr->w;
  for (int64_t j = j0; (kernel < 0 || rb->streamed) && j < j1; ++j) /* left to the scalar rule */
    if (rb->total[j] != 0 && (kernel < 0 || rb->off[j] == -2)) {
      const float *z = rb->off[j] >= 0 ? rb->z + rb->zpos[j] : NULL;
      h[k0 + j] = pulse_counts_scalar(jb, rb, i, j, z, 0u);
    }
  const float *hs = h + k0 + j0, *rs = ref ? ref + k0 + j0 : NULL;
  const uint32_t *total = rb->total + j0;
  float *ws = w + k0 + j0;
  int64_t n = j1 - j0;
  /* selects, not branches: whether a weight was pulsed is a coin flip at
   * small batches, and the same expression as aimc_visible_weight */
  if (jb->dev->write_noise > 0.0f) {
    uint64_t sub = aimc_subsequence(AIMC_STREAM_WRITE_NOISE,
                                    aimc_array_counter(jb->array, jb->write_call));
    jb->ops->io_normals(jb->key, sub, (uint64_t)(i * jb->cols + j0), n, rb->wn, rb->wn1, rb->wn2);
    for (int64_t j = 0; j < n; ++j) {
      float v = aimc_visible_weight(jb->dev, hs[j], rs ? rs[j] : 0.0f, rb->wn[j]);
      ws[j] = total[j] != 0 ? v : ws[j];
    }
  } else if (rs) {
    for (int64_t j = 0; j < n; ++j) {
      float v = hs[j] - rs[j];
      ws[j] = total[j] != 0 ? v : ws[j];
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      float v = hs[j] - 0.0f;
      ws[j] = total[j] != 0 ? v : ws[j];
    }
  }
}

/* Weights j0 .. j1-1 of row i, their normals (if any) already in rb->z. */
static void pulse_segment(const pulse_job_t *jb, const row_buf_t *rb, int64_t i, int64_t j0,
                          int64_t j1) {
  int64_t k0 = jb->t * jb->per_tile + i * jb->cols;
  int kernel = pulse_kernel(jb->dev);
  if (kernel >= 0) {
    float *const *pl = jb->arr->plane;
    aimc_pulse_seg_t ps;
    ps.n = j1 - j0;
    ps.nb = rb->nl;
    ps.stride = jb->cols;
    ps.cnt = rb->cnt + j0;
    ps.h = jb->arr->h + k0 + j0;
    ps.bmin = pl[AIMC_PLANE_MIN_BOUND] + k0 + j0;
    ps.bmax = pl[AIMC_PLANE_MAX_BOUND] + k0 + j0;
    ps.s_up = pl[AIMC_PLANE_STEP_UP] + k0 + j0;
    ps.s_dn = pl[AIMC_PLANE_STEP_DOWN] + k0 + j0;
    ps.p_up = pl[AIMC_PLANE_SLOPE_UP] ? pl[AIMC_PLANE_SLOPE_UP] + k0 + j0 : NULL;
    ps.p_dn = pl[AIMC_PLANE_SLOPE_DOWN] ? pl[AIMC_PLANE_SLOPE_DOWN] + k0 + j0 : NULL;
    ps.z = rb->z;
    ps.zpos = rb->zpos + j0;
    ps.dw_min_std = jb->dev->dw_min_std;
    ps.kernel = kernel;
    ps.noisy = jb->noisy;
    ps.dev = jb->dev;
    jb->ops->pulse_seg(&ps);
  }
  if (jb->b0 == 0 && jb->last_chunk) {
    finish_single_chunk(jb, rb, i, j0, j1, kernel);
    return;
  }
  for (int64_t j = j0; j < j1; ++j) {
    if (rb->total[j] == 0) {
      if (jb->b0 == 0) { /* nothing carried, nothing pulsed: only the position */
        jb->s->next[i * jb->cols + j] = 0u;
      } else {
        finish_weight(jb, rb, i, j);
      }
      continue;
    }
    int32_t off = rb->off[j];
    if (kernel < 0 || off == -2) {
      int64_t widx = i * jb->cols + j;
      uint32_t next = jb->b0 == 0 ? 0u : jb->s->next[widx] & ~PULSED_BIT;
      const float *z = off >= 0 ? rb->z + rb->zpos[j] : NULL;
      jb->arr->h[k0 + j] = pulse_counts_scalar(jb, rb, i, j, z, next);
    }
    finish_weight(jb, rb, i, j);
  }
}

/* The pulsed weights of row i in order (rb->pj, rb->npj): the row loops of a
 * first chunk visit only these (most of a row is unpulsed in a sparse
 * update). Written without a branch on whether a weight was pulsed (a coin
 * flip at small batches). */
static void pulsed_list(const pulse_job_t *jb, row_buf_t *rb) {
  int64_t n = 0;
  for (int64_t j = 0; j < jb->cols; ++j) {
    rb->pj[n] = (int32_t)j;
    n += rb->total[j] != 0u;
  }
  rb->npj = n;
}

/* Weight j needs more normal blocks than the whole buffer: it draws from
 * its own stream while pulsed (off -2) instead of from the segment's. */
static void stream_alone(row_buf_t *rb, int64_t j) {
  rb->off[j] = -2;
  rb->zpos[j] = -1;
  rb->streamed = 1;
}

/* The normal blocks of row i's pulsed weights from list entry *pp on, in a
 * first chunk (every weight's normals start at position 0: blocks 0 ..
 * (total - 1) / 4), until the buffer is full; *pp ends at the first weight
 * left out and *jp at its column (cols when none). Unpulsed weights keep
 * off = zpos = -1 (set for the whole row by the caller). */
static int64_t first_chunk_blocks(const pulse_job_t *jb, int64_t i, row_buf_t *rb, int64_t *pp,
                                  int64_t *jp) {
  int64_t cols = jb->cols, n_blocks = 0, p = *pp;
  for (; p < rb->npj; ++p) {
    int64_t j = rb->pj[p];
    uint32_t total = rb->total[j];
    int64_t need = (int64_t)(((total - 1u) >> 2) + 1u);
    if (need > rb->cap) { /* more than the buffer: its own stream */
      stream_alone(rb, j);
      continue;
    }
    if (n_blocks + need > rb->cap) break;
    rb->off[j] = (int32_t)n_blocks;
    rb->zpos[j] = (int32_t)(4 * n_blocks);
    uint64_t base = (uint64_t)(i * cols + j) << 32;
    rb->blocks[n_blocks] = base; /* room for two past the cap: no branch on need <= 2 */
    rb->blocks[n_blocks + 1] = base + 1u;
    for (int64_t b = 2; b < need; ++b) rb->blocks[n_blocks + b] = base + (uint64_t)b;
    n_blocks += need;
  }
  *pp = p;
  *jp = p < rb->npj ? rb->pj[p] : cols;
  return n_blocks;
}

/* The train words of row i's d line in each sample of the chunk (rb->nwc,
 * 0 where the sample has no train or an empty one: its coincidences are all
 * zero), the samples left to count (rb->live_c: those with a pulse on the
 * line; the walk skips zero counts, so dropping the others changes
 * nothing) and whether there is any. In a sparse update (small errors, BL
 * slots mostly empty) most rows have none, and a row without pulses needs
 * no counting, no normals and no walk. The deterministic pulse types count
 * every row and sample. */
static int row_trains(const pulse_job_t *jb, int64_t i, row_buf_t *rb) {
  rb->nl = 0;
  if (!jb->stochastic || !jb->skip_empty) { /* the dense walk: every sample counted */
    for (int64_t c = 0; c < jb->nb; ++c) {
      int32_t bl = jb->s->blab[jb->b0 + c].bl;
      rb->nwc[c] = bl == 0 ? 0 : AIMC_TRAIN_WORDS(bl);
      rb->live_c[rb->nl++] = (int32_t)c;
    }
    return 1;
  }
  const scratch_t *s = jb->s;
  size_t chunk = (size_t)jb->pl->chunk, nw = (size_t)jb->pl->nw;
  const uint32_t *dw = s->words + (size_t)(jb->cols + i) * chunk * nw;
  int live = 0;
  for (int64_t c = 0; c < jb->nb; ++c) {
    int32_t bl = s->blab[jb->b0 + c].bl, n = bl == 0 ? 0 : AIMC_TRAIN_WORDS(bl);
    uint32_t any = 0u;
    for (int32_t k = 0; k < n; ++k) any |= dw[(size_t)c * nw + (size_t)k];
    rb->nwc[c] = any != 0u ? n : 0;
    live |= any != 0u;
    if (any != 0u) rb->live_c[rb->nl++] = (int32_t)c;
  }
  return live;
}

/* Row i when no weight of it has a pulse in this chunk: exactly what the
 * row loop leaves for unpulsed weights. A single chunk changes nothing (h,
 * the visible weights and their write noise stay); a first chunk of
 * several zeroes the carried positions; a later chunk keeps them and, in
 * the last one, refreshes the visible weight of a device pulsed in an
 * earlier chunk (finish_weight). */
static void skip_row(const pulse_job_t *jb, int64_t i, row_buf_t *rb) {
  int64_t cols = jb->cols;
  if (jb->b0 == 0) {
    if (!jb->last_chunk) memset(jb->s->next + i * cols, 0, (size_t)cols * sizeof *jb->s->next);
    return;
  }
  if (!jb->last_chunk) return;
  for (int64_t j = 0; j < cols; ++j) {
    rb->total[j] = 0;
    finish_weight(jb, rb, i, j);
  }
}

/* Row i: pulse counts of the chunk, then segments of weights whose normals
 * fit the buffer, each drawn with one vector call and pulsed. A weight
 * needing more than the whole buffer takes its own stream. */
static void pulse_row(const pulse_job_t *jb, int64_t i, row_buf_t *rb, uint64_t *up_total,
                      uint64_t *down_total) {
  if (!row_trains(jb, i, rb)) {
    skip_row(jb, i, rb);
    return;
  }
  row_counts(jb, i, rb, up_total, down_total);
  int64_t cols = jb->cols;
  int64_t j = 0, p = 0;
  if (jb->b0 == 0 && jb->noisy) {
    pulsed_list(jb, rb);
    memset(rb->off, 0xff, (size_t)cols * sizeof *rb->off); /* -1: not pulsed */
    memset(rb->zpos, 0xff, (size_t)cols * sizeof *rb->zpos);
  }
  while (j < cols) {
    int64_t j0 = j, n_blocks = 0;
    rb->streamed = 0;
    if (jb->b0 == 0 && jb->noisy) {
      n_blocks = first_chunk_blocks(jb, i, rb, &p, &j);
      if (n_blocks > 0) jb->ops->normal4_blocks(jb->key, jb->sub, rb->blocks, n_blocks, rb->z);
      pulse_segment(jb, rb, i, j0, j);
      continue;
    }
    for (; j < cols; ++j) {
      uint32_t total = rb->total[j];
      if (total == 0) {
        rb->off[j] = -1;
        rb->zpos[j] = -1;
        continue;
      }
      if (!jb->noisy) { /* no normals: every pulsed weight in one segment */
        rb->off[j] = 0;
        rb->zpos[j] = 0;
        continue;
      }
      int64_t widx = i * cols + j;
      uint32_t next = jb->s->next[widx] & ~PULSED_BIT;
      uint64_t first = next >> 2, last = (next + total - 1u) >> 2;
      int64_t need = (int64_t)(last - first + 1u);
      if (need > rb->cap) {
        stream_alone(rb, j);
        continue;
      }
      if (n_blocks + need > rb->cap) break;
      rb->off[j] = (int32_t)n_blocks;
      rb->zpos[j] = (int32_t)(4 * n_blocks + (next & 3u));
      for (uint64_t b = first; b <= last; ++b)
        rb->blocks[n_blocks++] = ((uint64_t)widx << 32) + b;
    }
    if (n_blocks > 0) jb->ops->normal4_blocks(jb->key, jb->sub, rb->blocks, n_blocks, rb->z);
    pulse_segment(jb, rb, i, j0, j);
  }
}

/* Normal blocks one row of a chunk can need: a weight's pulses in a chunk of
 * `chunk` samples with trains of nw words number at most 32 nw per sample,
 * which start anywhere in a block (one block more) and may cross into one
 * more. Small tiles get small buffers: an update of a 10 x 10 tile should
 * not allocate (and, under a sanitizer, map and fill) 192 KiB per call.
 * Any capacity gives the same bits (a segment ends where the buffer is
 * full; only a weight needing more than the whole buffer streams alone). */
static int64_t row_blocks_cap(int64_t cols, int64_t chunk, int32_t nw) {
  int64_t per_weight = chunk * (int64_t)nw * 8 + 2;
  return cols > NORMAL_BLOCKS_CAP / per_weight ? NORMAL_BLOCKS_CAP : cols * per_weight;
}

static int carve_row_buf(aimc_cpu_arena_t *ar, row_buf_t *rb, int64_t cols, int64_t chunk,
                         int32_t nw) {
  rb->cap = row_blocks_cap(cols, chunk, nw);
  rb->blocks = aimc_cpu_carve(ar, (size_t)(rb->cap + 2) * sizeof *rb->blocks);
  rb->z = aimc_cpu_carve(ar, (size_t)(4 * rb->cap) * sizeof *rb->z);
  rb->off = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->off);
  rb->zpos = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->zpos);
  rb->total = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->total);
  rb->cnt = aimc_cpu_carve(ar, (size_t)cols * (size_t)chunk * sizeof *rb->cnt);
  rb->nwc = aimc_cpu_carve(ar, (size_t)chunk * sizeof *rb->nwc);
  rb->live_c = aimc_cpu_carve(ar, (size_t)chunk * sizeof *rb->live_c);
  rb->pj = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->pj);
  rb->wn = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->wn);
  rb->wn1 = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->wn1);
  rb->wn2 = aimc_cpu_carve(ar, (size_t)cols * sizeof *rb->wn2);
  return rb->blocks && rb->z && rb->off && rb->zpos && rb->total && rb->cnt && rb->nwc && rb->live_c && rb->pj && rb->wn &&
         rb->wn1 && rb->wn2;
}

/* Applies the coincidences of one chunk to every weight of tile t. */
static void apply_pulses(aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                         const aimc_update_params_t *u, int64_t b0, int64_t nb, int last_chunk,
                         const plan_t *pl, scratch_t *s, aimc_tile_stats_t *stats, int inner,
                         int nt) {
  const aimc_tile_params_t *tp = &st->params[t];
  pulse_job_t jb;
  jb.dev = aimc_array_dev(tp, a->array);
  jb.arr = &st->arr[a->array];
  jb.u = u;
  jb.pl = pl;
  jb.s = s;
  jb.ops = pl->ops;
  jb.key = tp->key;
  jb.sub = aimc_update_streams(a->array, a->call).pulse;
  jb.t = t;
  jb.b0 = b0;
  jb.nb = nb;
  jb.cols = st->cols;
  jb.per_tile = st->rows * st->cols;
  jb.stochastic = u->pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
  jb.noisy = aimc_device_needs_noise(jb.dev);
  jb.last_chunk = last_chunk;
  jb.skip_empty = pl->skip_empty;
  jb.array = a->array;
  jb.write_call = a->write_call;
  jb.tp = tp;
  int64_t rows = st->rows;
  uint64_t up_total = 0, down_total = 0;
  if (!inner) {
    for (int64_t i = 0; i < rows; ++i) pulse_row(&jb, i, &s->rb[0], &up_total, &down_total);
  } else {
#pragma omp parallel num_threads(nt) reduction(+ : up_total, down_total)
    {
      row_buf_t *rb = &s->rb[omp_get_thread_num()]; /* one per thread of the team */
#pragma omp for schedule(dynamic, 4)
      for (int64_t i = 0; i < rows; ++i) pulse_row(&jb, i, rb, &up_total, &down_total);
    }
  }
  stats[t].pulses_up += up_total;
  stats[t].pulses_down += down_total;
  stats[t].array_pulses[a->array] += up_total + down_total;
}

static void update_tile(aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                        const plan_t *pl, scratch_t *s, aimc_tile_stats_t *stats, int inner,
                        int nt) {
  aimc_update_params_t u = params_for(st, a, t);
  uint64_t call = a->not_a_call ? 0u : 1u;
  if (!(u.lr > 0.0f)) {
    stats[t].update_calls += call;
    return;
  }
  if (is_exact(u.pulse_type)) {
    update_exact(st, a, t, &u, s->acc, inner, nt);
    stats[t].update_calls += call;
    stats[t].update_samples += (uint64_t)a->batch;
    return;
  }
  int64_t rows = st->rows, cols = st->cols;
  const float *x = a->x + t * a->x_tile_stride;
  const float *d = a->d + t * a->d_tile_stride;
  uint64_t samples = 0;
  for (int64_t b = 0; b < a->batch; ++b) {
    float xm = 0.0f, dm = 0.0f;
    for (int64_t j = 0; j < cols; ++j) xm = aimc_maxf(xm, aimc_absf(x[b * cols + j]));
    for (int64_t i = 0; i < rows; ++i) dm = aimc_maxf(dm, aimc_absf(d[b * rows + i]));
    s->blab[b] = aimc_update_blab(&u, xm, dm);
    if (s->blab[b].bl > 0) samples++;
  }
  for (int64_t b0 = 0; b0 < a->batch; b0 += pl->chunk) {
    int64_t nb = a->batch - b0 < pl->chunk ? a->batch - b0 : pl->chunk;
    make_lines(st, a, t, &u, b0, nb, pl, s, inner, nt);
    apply_pulses(st, a, t, &u, b0, nb, b0 + nb >= a->batch, pl, s, stats, inner, nt);
  }
  stats[t].update_calls += call;
  stats[t].update_samples += samples;
}

aimc_status_t aimc_cpu_update(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                              aimc_tile_stats_t *stats) {
  int nt = aimc_cpu_threads(ctx, st->n_tiles * st->rows * st->cols * a->batch);
  plan_t pl = make_plan(aimc_cpu_env(ctx), st, a);
  /* many tiles: whole tiles per thread, one scratch each; else the lines
   * and rows of each tile split over the threads (inner regions) */
  int tile_parallel = st->n_tiles >= nt;
  int n_scratch = tile_parallel ? nt : 1;
  aimc_cpu_arena_t *ar = aimc_cpu_arena_take(ctx);
  scratch_t *s = ar ? carve_scratches(ar, st, a->batch, &pl, n_scratch, tile_parallel ? 1 : nt)
                    : NULL;
  if (!s) {
    if (ar) aimc_cpu_arena_give(ctx, ar);
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY,
                      "out of host memory for the update scratch buffers (%d x %lld samples)",
                      n_scratch, (long long)pl.chunk);
  }
  if (nt == 1) {
    for (int64_t t = 0; t < st->n_tiles; ++t) update_tile(st, a, t, &pl, &s[0], stats, 0, 1);
  } else if (tile_parallel) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t t = 0; t < st->n_tiles; ++t)
      update_tile(st, a, t, &pl, &s[omp_get_thread_num()], stats, 0, 1);
  } else {
    for (int64_t t = 0; t < st->n_tiles; ++t) update_tile(st, a, t, &pl, &s[0], stats, 1, nt);
  }
  aimc_cpu_arena_give(ctx, ar);
  return AIMC_OK;
}
