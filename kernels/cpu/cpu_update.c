/* CPU pulsed update of one array of every tile.
 *
 * Per tile: BL/A/B of every sample; then, a chunk of samples at a time, the
 * bit-packed pulse trains of all input and output lines; then every weight
 * walks the samples in order and applies its coincidences pulse by pulse
 * through the device rule. Pulse trains depend only on x and d, so walking
 * weight by weight gives exactly the sample-by-sample result. Many tiles are
 * spread over threads; a few large tiles split their lines and rows. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/state.h"
#include "kernels/common/update.h"
#include "kernels/cpu/cpu.h"

#define TRAIN_BUDGET_BYTES ((size_t)16 << 20)
#define PULSED_BIT 0x80000000u

typedef struct scratch {
  aimc_blab_t *blab;   /* [batch] */
  uint32_t *words;     /* [cols + rows][chunk][nw] pulse trains */
  float *level;        /* [cols + rows][chunk] q or counts of the deterministic types */
  uint8_t *neg;        /* [cols + rows][chunk] sign of the line value */
  uint32_t *next;      /* [rows * cols] noise-stream position of each weight */
  float *acc;          /* [n_acc][cols] rows of the exact updates, one per thread */
} scratch_t;

typedef struct plan {
  int64_t chunk;       /* samples per chunk */
  int32_t nw;          /* words per train */
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

/* Bytes of pulse trains held at once; AIMC_CPU_TRAIN_BUDGET overrides it
 * (the tests shrink it to check that chunking leaves results unchanged). */
static size_t train_budget(void) {
  const char *env = getenv("AIMC_CPU_TRAIN_BUDGET");
  long long v = env ? atoll(env) : 0;
  return v > 0 ? (size_t)v : TRAIN_BUDGET_BYTES;
}

static plan_t make_plan(const aimc_state_t *st, const aimc_update_args_t *a) {
  plan_t p;
  p.nw = AIMC_TRAIN_WORDS(max_bl(st, a));
  size_t per_sample = (size_t)(st->rows + st->cols) * ((size_t)p.nw * 4u + 4u + 1u);
  int64_t c = (int64_t)(train_budget() / per_sample);
  p.chunk = c < 1 ? 1 : (c > a->batch ? a->batch : c);
  return p;
}

static void free_scratch(scratch_t *s) {
  free(s->blab);
  free(s->words);
  free(s->level);
  free(s->neg);
  free(s->next);
  free(s->acc);
}

static int alloc_scratch(scratch_t *s, const aimc_state_t *st, int64_t batch, const plan_t *p,
                         int n_acc) {
  size_t lines = (size_t)(st->rows + st->cols) * (size_t)p->chunk;
  memset(s, 0, sizeof *s);
  s->blab = malloc((size_t)batch * sizeof *s->blab);
  s->words = malloc(lines * (size_t)p->nw * sizeof *s->words);
  s->level = malloc(lines * sizeof *s->level);
  s->neg = malloc(lines);
  s->next = malloc((size_t)st->rows * (size_t)st->cols * sizeof *s->next);
  s->acc = malloc((size_t)n_acc * (size_t)st->cols * sizeof *s->acc);
  if (s->blab && s->words && s->level && s->neg && s->next && s->acc) return 1;
  free_scratch(s);
  return 0;
}

/* Line value with the chopper sign applied (x by c_in, d by c_out). */
static float line_value(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t, int is_x,
                        int64_t idx, float v) {
  if (!a->chopped) return v;
  int8_t c = is_x ? st->c_in[t * st->cols + idx] : st->c_out[t * st->rows + idx];
  return c < 0 ? -v : v;
}

/* Exact updates: NONE (ideal float device, W -= lr sum_b d_b x_b^T, the sum
 * over samples in order) and NONE_WITH_DEVICE (per sample, the device state
 * clipped to its bounds after each step). */
static void update_exact(aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                         const aimc_update_params_t *u, float *acc_all, int inner, int nt) {
  const aimc_tile_params_t *tp = &st->params[t];
  aimc_array_t *arr = &st->arr[a->array];
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols;
  const float *x = a->x + t * a->x_tile_stride;
  const float *d = a->d + t * a->d_tile_stride;
  float lr = u->lr;
  int with_device = u->pulse_type == AIMC_PULSE_NONE_WITH_DEVICE;
#pragma omp parallel for if (inner) num_threads(nt) schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    float *acc = acc_all + (size_t)omp_get_thread_num() * (size_t)cols;
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
      continue;
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
}

/* Line values of one chunk: trains (stochastic) or levels (deterministic).
 * Lines 0..cols-1 are inputs x, cols..cols+rows-1 outputs d. */
static void make_lines(const aimc_state_t *st, const aimc_update_args_t *a, int64_t t,
                       const aimc_update_params_t *u, int64_t b0, int64_t nb, const plan_t *pl,
                       scratch_t *s, int inner, int nt) {
  const aimc_tile_params_t *tp = &st->params[t];
  int64_t rows = st->rows, cols = st->cols, n_lines = rows + cols;
  const float *x = a->x + t * a->x_tile_stride;
  const float *d = a->d + t * a->d_tile_stride;
  aimc_update_streams_t rs = aimc_update_streams(a->array, a->call);
#pragma omp parallel for if (inner) num_threads(nt) schedule(static)
  for (int64_t l = 0; l < n_lines; ++l) {
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
      s->level[slot] = level;
      if (u->pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED)
        aimc_make_train(tp->key, is_x ? rs.x : rs.d, sample_line, level, bb->bl,
                        s->words + slot * (size_t)pl->nw);
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
  uint64_t write_call;
  const aimc_tile_params_t *tp;
} pulse_job_t;

/* Pulse count of weight (row line dl, column line xl) in
 * sample c of the chunk (0 when the sample has no train). */
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

/* Normals of the weights of one segment of a row, drawn in one vector call:
 * weight j's normals next_j .. next_j + total_j - 1 of its own stream (block
 * (widx << 32) + position / 4, as aimc_normal_stream), so each pulse gets
 * exactly the draw the streaming loop would give it. */
#define NORMAL_BLOCKS_CAP 1024

typedef struct normal_buf {
  uint64_t *blocks; /* [NORMAL_BLOCKS_CAP] */
  float *z;         /* [4 * NORMAL_BLOCKS_CAP] */
  int32_t *off;     /* [cols] first block of weight j in the buffer; -1 none, -2 stream */
} normal_buf_t;

/* One weight through the samples of the chunk, noise from buffered normals
 * (z: the weight's blocks, position base4 first) or from its stream (z NULL). */
static void pulse_weight(const pulse_job_t *jb, int64_t i, int64_t j, const float *z,
                         uint64_t *up_total, uint64_t *down_total) {
  scratch_t *s = jb->s;
  aimc_array_t *arr = jb->arr;
  size_t chunk = (size_t)jb->pl->chunk;
  size_t dl = (size_t)(jb->cols + i) * chunk, xl = (size_t)j * chunk;
  int64_t widx = i * jb->cols + j, k = jb->t * jb->per_tile + widx;
  /* per weight across chunks: bit 31 = pulsed in this call, rest = noise position */
  uint32_t carried = jb->b0 == 0 ? 0u : s->next[widx];
  uint32_t pulsed = carried & PULSED_BIT, next = carried & ~PULSED_BIT;
  uint32_t base4 = next & ~3u;
  float h = arr->h[k];
  aimc_wparams_t wp;
  aimc_normal_stream_t ns;
  int loaded = 0; /* parameters and noise stream, fetched at the first pulse */
  for (int64_t c = 0; c < jb->nb; ++c) {
    int32_t n = pulse_count(jb, xl, dl, c);
    if (n <= 0) continue;
    if (!loaded) {
      aimc_load_wparams(arr, (size_t)k, &wp);
      if (!z) {
        aimc_normal_stream_init(&ns, jb->key, jb->sub, (uint64_t)widx << 32);
        if (jb->noisy) aimc_normal_stream_seek(&ns, next);
      }
      loaded = 1;
      pulsed = PULSED_BIT;
    }
    /* W -= lr d x^T: the weight goes up when d and x differ in sign */
    int up = s->neg[xl + (size_t)c] != s->neg[dl + (size_t)c];
    if (z) {
      for (int32_t q = 0; q < n; ++q)
        h = aimc_device_pulse(jb->dev, &wp, h, up, z[next + (uint32_t)q - base4]);
      next += (uint32_t)n;
    } else {
      h = aimc_device_pulses(jb->dev, &wp, h, up, (uint32_t)n, &ns);
      if (jb->noisy) next = ns.next;
    }
    if (up)
      *up_total += (uint64_t)n;
    else
      *down_total += (uint64_t)n;
  }
  arr->h[k] = h;
  s->next[widx] = pulsed | next;
  if (jb->last_chunk && pulsed) {
    aimc_load_wparams(arr, (size_t)k, &wp);
    arr->w[k] = aimc_refresh_visible(jb->tp, jb->array, h, wp.ref, jb->write_call, (uint64_t)widx);
  }
}

/* A weight without pulses in this chunk: its carried state moves on, and
 * the last chunk refreshes it when an earlier chunk pulsed it. */
static void idle_weight(const pulse_job_t *jb, int64_t i, int64_t j) {
  int64_t widx = i * jb->cols + j, k = jb->t * jb->per_tile + widx;
  uint32_t carried = jb->b0 == 0 ? 0u : jb->s->next[widx];
  jb->s->next[widx] = carried;
  if (jb->last_chunk && (carried & PULSED_BIT)) {
    aimc_wparams_t wp;
    aimc_load_wparams(jb->arr, (size_t)k, &wp);
    jb->arr->w[k] = aimc_refresh_visible(jb->tp, jb->array, jb->arr->h[k], wp.ref, jb->write_call,
                                         (uint64_t)widx);
  }
}

/* Row i of a device with cycle-to-cycle noise: segments of weights whose
 * normals fit the buffer are drawn with one vector call, then pulsed. A
 * weight needing more than the whole buffer takes its stream. */
static void pulse_row_noisy(const pulse_job_t *jb, int64_t i, normal_buf_t *nbuf,
                            uint64_t *up_total, uint64_t *down_total) {
  size_t chunk = (size_t)jb->pl->chunk;
  size_t dl = (size_t)(jb->cols + i) * chunk;
  int64_t j = 0;
  while (j < jb->cols) {
    int64_t j0 = j, n_blocks = 0;
    for (; j < jb->cols; ++j) {
      int64_t widx = i * jb->cols + j;
      uint32_t total = 0;
      for (int64_t c = 0; c < jb->nb; ++c) {
        int32_t n = pulse_count(jb, (size_t)j * chunk, dl, c);
        if (n > 0) total += (uint32_t)n;
      }
      if (total == 0) {
        nbuf->off[j] = -1;
        continue;
      }
      uint32_t next = jb->b0 == 0 ? 0u : jb->s->next[widx] & ~PULSED_BIT;
      uint64_t first = next >> 2, last = (next + total - 1u) >> 2;
      int64_t need = (int64_t)(last - first + 1u);
      if (need > NORMAL_BLOCKS_CAP) {
        nbuf->off[j] = -2;
        continue;
      }
      if (n_blocks + need > NORMAL_BLOCKS_CAP) break;
      nbuf->off[j] = (int32_t)n_blocks;
      for (uint64_t b = first; b <= last; ++b)
        nbuf->blocks[n_blocks++] = ((uint64_t)widx << 32) + b;
    }
    if (n_blocks > 0) jb->ops->normal4_blocks(jb->key, jb->sub, nbuf->blocks, n_blocks, nbuf->z);
    for (int64_t jj = j0; jj < j; ++jj) {
      int32_t off = nbuf->off[jj];
      if (off == -1) {
        idle_weight(jb, i, jj);
        continue;
      }
      pulse_weight(jb, i, jj, off >= 0 ? nbuf->z + 4 * (size_t)off : NULL, up_total, down_total);
    }
  }
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
  jb.ops = aimc_cpu_simd();
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
  jb.array = a->array;
  jb.write_call = a->write_call;
  jb.tp = tp;
  int64_t rows = st->rows, cols = st->cols;
  uint64_t up_total = 0, down_total = 0;
#pragma omp parallel if (inner) num_threads(nt) reduction(+ : up_total, down_total)
  {
    normal_buf_t nbuf = {NULL, NULL, NULL};
    if (jb.noisy) {
      nbuf.blocks = malloc(NORMAL_BLOCKS_CAP * sizeof *nbuf.blocks);
      nbuf.z = malloc(4 * NORMAL_BLOCKS_CAP * sizeof *nbuf.z);
      nbuf.off = malloc((size_t)cols * sizeof *nbuf.off);
    }
    /* without the buffer (no noise, or no memory) every weight streams */
    int buffered = nbuf.blocks && nbuf.z && nbuf.off;
#pragma omp for schedule(dynamic, 4)
    for (int64_t i = 0; i < rows; ++i) {
      if (buffered) {
        pulse_row_noisy(&jb, i, &nbuf, &up_total, &down_total);
      } else {
        for (int64_t j = 0; j < cols; ++j) pulse_weight(&jb, i, j, NULL, &up_total, &down_total);
      }
    }
    free(nbuf.blocks);
    free(nbuf.z);
    free(nbuf.off);
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
  plan_t pl = make_plan(st, a);
  int tile_parallel = st->n_tiles >= nt;
  int n_scratch = tile_parallel ? nt : 1;
  scratch_t *s = calloc((size_t)n_scratch, sizeof *s);
  int ok = s != NULL;
  for (int k = 0; ok && k < n_scratch; ++k) {
    ok = alloc_scratch(&s[k], st, a->batch, &pl, tile_parallel ? 1 : nt);
    if (!ok)
      for (int m = 0; m < k; ++m) free_scratch(&s[m]);
  }
  if (!ok) {
    free(s);
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY,
                      "out of host memory for the update scratch buffers (%d x %lld samples)",
                      n_scratch, (long long)pl.chunk);
  }
  if (tile_parallel) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t t = 0; t < st->n_tiles; ++t)
      update_tile(st, a, t, &pl, &s[omp_get_thread_num()], stats, 0, 1);
  } else {
    for (int64_t t = 0; t < st->n_tiles; ++t) update_tile(st, a, t, &pl, &s[0], stats, 1, nt);
  }
  for (int k = 0; k < n_scratch; ++k) free_scratch(&s[k]);
  free(s);
  return AIMC_OK;
}
