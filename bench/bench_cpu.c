/* CPU benchmark of the core operations: pulsed update, forward and backward
 * reads, for several batch shapes. Each row reports the median time per call
 * over repeats, weights updated (or multiply-adds done) per second, and the
 * bandwidth of reading and writing the weights once; the header gives the
 * memcpy bandwidth of a 256 MiB buffer measured in the same run.
 *
 * Device: SoftBounds with device-to-device and cycle-to-cycle variation
 * (aihwkit defaults: dw_min 0.001, dtod 0.3, c2c 0.3), default update (BL 31,
 * update and BL management) and the default IO (7-bit DAC, 9-bit ADC, noise
 * and bound management). Inputs x and d uniform in [-1, 1]. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimc.h"

typedef struct shape {
  int64_t tiles;
  int rows, cols, batch;
} shape_t;

static const shape_t default_shapes[] = {
    {1, 256, 256, 1},  {1, 256, 256, 16}, {1, 256, 256, 128}, {64, 256, 256, 1},
    {64, 256, 256, 16}, {16, 512, 512, 16}, {1024, 64, 64, 16}};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define CHECK(call)                                                                  \
  do {                                                                               \
    aimc_status_t s_ = (call);                                                       \
    if (s_ != AIMC_OK) {                                                             \
      fprintf(stderr, "bench: %s: %s\n", aimc_status_string(s_), aimc_last_error()); \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

typedef enum { OP_UPDATE, OP_FORWARD, OP_BACKWARD } op_t;

/* Median seconds per call of op over `reps` timed calls after one warm-up. */
static double time_op(op_t op, aimc_tiles_t *t, float *x, float *d, float *y, int batch,
                      int reps) {
  double *s = malloc((size_t)reps * sizeof *s);
  for (int r = -1; r < reps; ++r) {
    double t0 = now();
    switch (op) {
      case OP_UPDATE: CHECK(aimc_tiles_update(t, x, d, batch)); break;
      case OP_FORWARD: CHECK(aimc_tiles_forward(t, x, y, batch)); break;
      case OP_BACKWARD: CHECK(aimc_tiles_backward(t, d, y, batch)); break;
    }
    if (r >= 0) s[r] = now() - t0;
  }
  qsort(s, (size_t)reps, sizeof *s, cmp_double);
  double m = s[reps / 2];
  free(s);
  return m;
}

/* Bytes read plus written per second by memcpy of 256 MiB (median of 5). */
static double copy_bandwidth(void) {
  size_t n = (size_t)256 << 20;
  char *a = malloc(n), *b = malloc(n);
  if (!a || !b) return 0;
  memset(a, 1, n), memset(b, 2, n);
  double s[5];
  for (int r = 0; r < 5; ++r) {
    double t0 = now();
    memcpy(b, a, n);
    s[r] = now() - t0;
  }
  qsort(s, 5, sizeof s[0], cmp_double);
  free(a), free(b);
  return 2.0 * (double)n / s[2] / 1e9;
}

static uint64_t rng_state = 1;
static float uniform(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

static void run_shape(aimc_context_t *ctx, const shape_t *s, int reps) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = s->tiles, td.rows = s->rows, td.cols = s->cols;
  aimc_device_desc_default(&td.config.device, AIMC_DEVICE_SOFT_BOUNDS);
  aimc_tiles_t *t;
  CHECK(aimc_tiles_create(ctx, &td, &t));
  size_t nw = (size_t)s->tiles * s->rows * s->cols;
  size_t nx = (size_t)s->tiles * s->batch * s->cols, nd = (size_t)s->tiles * s->batch * s->rows;
  size_t ny = nx > nd ? nx : nd;
  float *x = malloc(nx * 4), *d = malloc(nd * 4), *y = malloc(ny * 4), *w = malloc(nw * 4);
  if (!x || !d || !y || !w) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  for (size_t k = 0; k < nx; ++k) x[k] = uniform();
  for (size_t k = 0; k < nd; ++k) d[k] = uniform();
  for (size_t k = 0; k < nw; ++k) w[k] = 0.3f * uniform();
  CHECK(aimc_tiles_set_weights(t, w));
  aimc_tile_stats_t *st = calloc((size_t)s->tiles, sizeof *st);
  CHECK(aimc_tiles_reset_stats(t));
  double t_up = time_op(OP_UPDATE, t, x, d, y, s->batch, reps);
  CHECK(aimc_tiles_get_stats(t, st));
  double pulses = 0;
  for (int64_t k = 0; k < s->tiles; ++k) pulses += (double)(st[k].pulses_up + st[k].pulses_down);
  pulses /= (double)nw * s->batch * (reps + 1);
  double t_fw = time_op(OP_FORWARD, t, x, d, y, s->batch, reps);
  double t_bw = time_op(OP_BACKWARD, t, x, d, y, s->batch, reps);
  double bytes = 8.0 * (double)nw; /* read and write every weight once */
  printf("| %5lld | %3dx%-3d | %5d | %9.3f | %9.3g | %6.2f | %8.3f | %6.3f | %11.2f | %6.3f | "
         "%11.2f |\n",
         (long long)s->tiles, s->rows, s->cols, s->batch, 1e3 * t_up,
         (double)nw * s->batch / t_up, pulses, bytes / t_up / 1e9, 1e3 * t_fw,
         2.0 * (double)nw * s->batch / t_fw / 1e9, 1e3 * t_bw,
         2.0 * (double)nw * s->batch / t_bw / 1e9);
  fflush(stdout);
  free(x), free(d), free(y), free(w), free(st);
  aimc_tiles_destroy(t);
}

int main(int argc, char **argv) {
  int threads = 0, reps = 5, quick = 0;
  static const struct option longs[] = {{"threads", 1, 0, 't'}, {"reps", 1, 0, 'r'},
                                        {"quick", 0, 0, 'q'},   {"help", 0, 0, 'h'},
                                        {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    if (c == 't') threads = atoi(optarg);
    else if (c == 'r') reps = atoi(optarg);
    else if (c == 'q') quick = 1;
    else {
      printf("usage: bench_cpu [--threads N] [--reps N] [--quick]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (reps < 1 || threads < 0) {
    fprintf(stderr, "bench_cpu: --reps must be >= 1 and --threads >= 0\n");
    return 2;
  }
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  cd.n_threads = threads;
  aimc_context_t *ctx;
  CHECK(aimc_context_create(&ctx, &cd));
  printf("memcpy of a 256 MiB buffer: %.2f GB/s (read + write)\n\n", copy_bandwidth());
  printf("| tiles | shape   | batch | update ms | weights/s | pulses | upd GB/s | fwd ms | fwd GFLOP/s "
         "| bwd ms | bwd GFLOP/s |\n");
  printf("|------:|:--------|------:|----------:|----------:|-------:|---------:|-------:|------------:"
         "|-------:|------------:|\n");
  size_t n = sizeof default_shapes / sizeof default_shapes[0];
  for (size_t k = 0; k < (quick ? 2 : n); ++k) run_shape(ctx, &default_shapes[k], reps);
  aimc_context_destroy(ctx);
  return 0;
}
