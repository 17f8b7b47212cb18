/* robustness_map: the weight-programming error map of the c-TTv2/AGAD paper
 * (Rasch et al., Nat. Commun. 2024, Fig. 4) and its correlation-detection
 * toy, run as one tile batch per algorithm (every grid point and seed is a
 * tile with its own configuration).
 *
 * Task: a fixed 10x10 target W* in [-0.3, 0.3] is learned through the
 * algorithm's update rule from random inputs x ~ U[-1, 1] and the error
 * d = W x - W* x of the analog forward read (8-bit IO, out_noise 0.04).
 * Devices: SoftBoundsReference on [-1, 1] with `states` states (dw_min =
 * 2/states), 30 % step spread, up/down spread 0.1, c2c noise 0.3, symmetry
 * point subtracted; the gradient array (A, or W for analog SGD) has bound
 * spread 0.3 and reference offsets of std `reference_std`, the slow array C
 * no bound spread. Algorithm settings as aihwkit's c-TTv2/AGAD example: lr
 * 0.1, fast_lr 0.1 with auto scaling, auto_granularity 200, transfer every
 * sample, regular chopping with in_chop_prob = min(0.1, 10/states), AGAD
 * tail weighting 5; TTv2 is the chopped algorithm without flips (as
 * aihwkit's presets). Error: RMS(W - W*) over the tile, in % of the weight
 * range (2), and in % of RMS(W*). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimc.h"

#define CHECK(call)                                                                       \
  do {                                                                                    \
    aimc_status_t s_ = (call);                                                            \
    if (s_ != AIMC_OK) {                                                                  \
      fprintf(stderr, "robustness_map: %s: %s\n", aimc_status_string(s_), aimc_last_error()); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

static const float ref_stds[] = {0.0f, 0.05f, 0.1f, 0.2f, 0.5f, 1.0f};
static const int states_list[] = {10, 20, 50, 100, 500, 1000};
#define N_REF 6
#define N_STATES 6
enum { N = 10, B = 10 };

static const aimc_algorithm_t algorithms[] = {AIMC_ALGO_SGD, AIMC_ALGO_TTV2,
                                              AIMC_ALGO_CHOPPED_TTV2, AIMC_ALGO_AGAD};
static const char *algorithm_labels[] = {"analog SGD", "TTv2", "chopped TTv2", "AGAD"};

static uint64_t rng_state = 2024;
static float uniform(float lo, float hi) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (float)((double)(z >> 11) * 0x1.0p-53);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The configuration of one grid point. */
static void grid_config(aimc_algorithm_t kind, float ref_std, int states, aimc_tile_config_t *c) {
  aimc_tile_config_default(c);
  aimc_device_desc_t *dv = &c->device;
  aimc_device_desc_default(dv, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  dv->dw_min = 2.0f / (float)states, dv->w_max = 1.0f, dv->w_min = -1.0f;
  dv->dw_min_dtod = 0.3f, dv->up_down_dtod = 0.1f, dv->dw_min_std = 0.3f;
  dv->w_max_dtod = dv->w_min_dtod = 0.0f, dv->subtract_symmetry_point = 1;
  c->fast_device = *dv;
  c->fast_device.w_max_dtod = c->fast_device.w_min_dtod = 0.3f;
  c->fast_device.reference_std = ref_std;
  if (kind == AIMC_ALGO_SGD) c->device = c->fast_device;
  aimc_tile_config_io_preset(c, AIMC_IO_STANDARD);
  CHECK(aimc_tile_config_algorithm(c, kind == AIMC_ALGO_TTV2 ? AIMC_ALGO_CHOPPED_TTV2 : kind));
  c->update.learning_rate = 0.1f;
  aimc_algorithm_desc_t *a = &c->algorithm;
  a->fast_lr = 0.1f, a->auto_scale = 1, a->auto_granularity = 200.0f;
  a->in_chop_random = 0;
  a->in_chop_prob = kind == AIMC_ALGO_TTV2 ? 0.0f : fminf(0.1f, 10.0f / (float)states);
}

static double target_rms;

/* Trains one batch (all grid points x seeds of one algorithm); returns the
 * error per tile in % of the weight range. */
static double run_map(aimc_context_t *ctx, int a, int seeds, int samples, double *err) {
  int tiles = N_REF * N_STATES * seeds;
  aimc_tile_config_t *cfg = calloc((size_t)tiles, sizeof *cfg);
  for (int r = 0; r < N_REF; ++r)
    for (int s = 0; s < N_STATES; ++s)
      for (int q = 0; q < seeds; ++q)
        grid_config(algorithms[a], ref_stds[r], states_list[s], &cfg[(r * N_STATES + s) * seeds + q]);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = tiles, td.rows = N, td.cols = N, td.per_tile = cfg, td.seed = 100 + (uint64_t)a;
  aimc_tiles_t *t;
  CHECK(aimc_tiles_create(ctx, &td, &t));
  float target[N * N], x[B * N];
  size_t ny = (size_t)tiles * B * N;
  float *y = malloc(ny * sizeof *y), *d = malloc(ny * sizeof *d),
        *w = malloc((size_t)tiles * N * N * sizeof *w);
  float *dx, *dy, *dd, *dw; /* context memory */
  CHECK(aimc_malloc(ctx, (void **)&dx, sizeof x));
  CHECK(aimc_malloc(ctx, (void **)&dy, ny * sizeof *y));
  CHECK(aimc_malloc(ctx, (void **)&dd, ny * sizeof *d));
  CHECK(aimc_malloc(ctx, (void **)&dw, (size_t)tiles * N * N * sizeof *w));
  rng_state = 2024;
  target_rms = 0;
  for (int k = 0; k < N * N; ++k) {
    target[k] = uniform(-0.3f, 0.3f);
    target_rms += (double)target[k] * target[k] / (N * N);
  }
  target_rms = sqrt(target_rms);
  double t0 = now();
  for (int s = 0; s < samples / B; ++s) {
    for (int k = 0; k < B * N; ++k) x[k] = uniform(-1.0f, 1.0f);
    CHECK(aimc_memcpy(ctx, dx, x, sizeof x, AIMC_COPY_HOST_TO_CONTEXT));
    CHECK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, dx, 0, dy, B));
    CHECK(aimc_memcpy(ctx, y, dy, ny * sizeof *y, AIMC_COPY_CONTEXT_TO_HOST));
    for (int k = 0; k < tiles; ++k)
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < N; ++i) {
          float want = 0;
          for (int j = 0; j < N; ++j) want += target[i * N + j] * x[b * N + j];
          d[((size_t)k * B + b) * N + i] = y[((size_t)k * B + b) * N + i] - want;
        }
    CHECK(aimc_memcpy(ctx, dd, d, ny * sizeof *d, AIMC_COPY_HOST_TO_CONTEXT));
    CHECK(aimc_tiles_update_ex(t, dx, 0, dd, B * N, B));
  }
  CHECK(aimc_context_synchronize(ctx));
  double elapsed = now() - t0;
  CHECK(aimc_tiles_get_weights(t, dw));
  CHECK(aimc_memcpy(ctx, w, dw, (size_t)tiles * N * N * sizeof *w, AIMC_COPY_CONTEXT_TO_HOST));
  for (int k = 0; k < tiles; ++k) {
    double se = 0;
    for (int q = 0; q < N * N; ++q) se += pow(w[(size_t)k * N * N + q] - target[q], 2);
    err[k] = 100.0 * sqrt(se / (N * N)) / 2.0;
  }
  aimc_free(ctx, dx), aimc_free(ctx, dy), aimc_free(ctx, dd), aimc_free(ctx, dw);
  free(y), free(d), free(w), free(cfg);
  aimc_tiles_destroy(t);
  return elapsed;
}

/* Correlation detection (aihwkit example 26): a 5x5 tile learns the
 * diagonal correlation of d = 0.4 x + 0.6 noise from 5000 single samples;
 * SoftBoundsReference with 20 states, bound spread 0.3, symmetry point
 * subtracted, StandardIO. Prints the mean diagonal and off-diagonal weight
 * per algorithm for reference_std 0 and 0.3. */
static void correlation_toy(aimc_context_t *ctx, FILE *out) {
  fprintf(out, "\n# correlation detection: algorithm, reference_std, mean diagonal, mean |off-diagonal|\n");
  for (int a = 0; a < 4; ++a)
    for (int r = 0; r < 2; ++r) {
      aimc_tile_config_t c;
      grid_config(algorithms[a], r ? 0.3f : 0.0f, 20, &c);
      c.fast_device.w_max_dtod = c.fast_device.w_min_dtod = 0.3f;
      c.device.w_max_dtod = c.device.w_min_dtod = 0.3f;
      c.algorithm.in_chop_prob = algorithms[a] == AIMC_ALGO_TTV2 ? 0.0f : 0.1f;
      aimc_tiles_desc_t td;
      aimc_tiles_desc_default(&td);
      td.n_tiles = 4, td.rows = 5, td.cols = 5, td.config = c, td.seed = 7;
      aimc_tiles_t *t;
      CHECK(aimc_tiles_create(ctx, &td, &t));
      float x[5], d[5], w[4 * 25], *dx, *dd, *dw;
      CHECK(aimc_malloc(ctx, (void **)&dx, sizeof x));
      CHECK(aimc_malloc(ctx, (void **)&dd, sizeof d));
      CHECK(aimc_malloc(ctx, (void **)&dw, sizeof w));
      rng_state = 99;
      for (int s = 0; s < 5000; ++s) {
        for (int k = 0; k < 5; ++k) {
          float g1 = uniform(1e-7f, 1.0f), g2 = uniform(0.0f, 1.0f);
          x[k] = sqrtf(-2 * logf(g1)) * cosf(6.2831853f * g2);
        }
        for (int k = 0; k < 5; ++k) {
          float g1 = uniform(1e-7f, 1.0f), g2 = uniform(0.0f, 1.0f);
          d[k] = -(0.4f * x[k] + 0.6f * sqrtf(-2 * logf(g1)) * cosf(6.2831853f * g2));
        }
        CHECK(aimc_memcpy(ctx, dx, x, sizeof x, AIMC_COPY_HOST_TO_CONTEXT));
        CHECK(aimc_memcpy(ctx, dd, d, sizeof d, AIMC_COPY_HOST_TO_CONTEXT));
        CHECK(aimc_tiles_update_ex(t, dx, 0, dd, 0, 1));
      }
      CHECK(aimc_tiles_get_weights(t, dw));
      CHECK(aimc_memcpy(ctx, w, dw, sizeof w, AIMC_COPY_CONTEXT_TO_HOST));
      double diag = 0, off = 0;
      for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 5; ++i)
          for (int j = 0; j < 5; ++j)
            if (i == j) diag += w[k * 25 + i * 5 + j] / 20.0;
            else off += fabs(w[k * 25 + i * 5 + j]) / 80.0;
      fprintf(out, "%s,%.1f,%.4f,%.4f\n", algorithm_labels[a], r ? 0.3 : 0.0, diag, off);
      aimc_free(ctx, dx), aimc_free(ctx, dd), aimc_free(ctx, dw);
      aimc_tiles_destroy(t);
    }
}

int main(int argc, char **argv) {
  int seeds = 3, samples = 20000;
  const char *csv = "robustness_map.csv";
  aimc_backend_t backend = AIMC_BACKEND_AUTO;
  static const struct option longs[] = {{"seeds", 1, 0, 's'},  {"samples", 1, 0, 'n'},
                                        {"csv", 1, 0, 'o'},    {"cpu", 0, 0, 'c'},
                                        {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    if (c == 's') seeds = atoi(optarg);
    else if (c == 'n') samples = atoi(optarg);
    else if (c == 'o') csv = optarg;
    else if (c == 'c') backend = AIMC_BACKEND_CPU;
    else {
      printf("usage: robustness_map [--seeds N] [--samples N] [--csv FILE] [--cpu]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (seeds < 1 || samples < B) {
    fprintf(stderr, "robustness_map: --seeds >= 1 and --samples >= %d\n", B);
    return 2;
  }
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = backend;
  aimc_context_t *ctx;
  CHECK(aimc_context_create(&ctx, &cd));
  FILE *out = fopen(csv, "w");
  if (!out) {
    perror(csv);
    return 1;
  }
  fprintf(out, "algorithm,reference_std,states,seed,error_percent_of_range,error_percent_of_target\n");
  int tiles = N_REF * N_STATES * seeds;
  double *err = malloc((size_t)tiles * sizeof *err);
  printf("backend %s; %d tiles of %dx%d per algorithm, %d samples each\n",
         aimc_context_backend(ctx) == AIMC_BACKEND_CUDA ? "CUDA" : "CPU", tiles, N, N, samples);
  printf("\nmean error (%% of range) over %d seeds; rows: states, columns: reference_std\n", seeds);
  for (int a = 0; a < 4; ++a) {
    double seconds = run_map(ctx, a, seeds, samples, err);
    printf("\n%s (%.1f s)\n%7s", algorithm_labels[a], seconds, "states");
    for (int r = 0; r < N_REF; ++r) printf(" %6.2f", (double)ref_stds[r]);
    printf("\n");
    for (int s = 0; s < N_STATES; ++s) {
      printf("%7d", states_list[s]);
      for (int r = 0; r < N_REF; ++r) {
        double m = 0;
        for (int q = 0; q < seeds; ++q) {
          double e = err[(r * N_STATES + s) * seeds + q];
          m += e / seeds;
          fprintf(out, "%s,%g,%d,%d,%.4f,%.4f\n", algorithm_labels[a], (double)ref_stds[r],
                  states_list[s], q, e, e * 2.0 / target_rms);
        }
        printf(" %6.2f", m);
      }
      printf("\n");
    }
    printf("20 states in %% of RMS(W*) = %.3f:", target_rms);
    for (int r = 0; r < N_REF; ++r) {
      double m = 0;
      for (int q = 0; q < seeds; ++q) m += err[(r * N_STATES + 1) * seeds + q] / seeds;
      printf(" %.1f", m * 2.0 / target_rms);
    }
    printf("\n");
    fflush(stdout);
  }
  correlation_toy(ctx, out);
  fclose(out);
  free(err);
  aimc_context_destroy(ctx);
  return 0;
}
