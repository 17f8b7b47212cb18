/* aimc-demo: the weight-programming task on every device preset at once.
 *
 * A fixed random target matrix W* is learned by analog SGD: each step feeds
 * random inputs x, reads y = W x through the noisy forward pass, and pulses
 * W with the error d = y - W* x. Every (device, seed) pair is one tile of a
 * single tile batch, so all of them train in one call per step. The table
 * shows how far each device ends from the target: a pure analog SGD suffers
 * from asymmetric and coarse devices, which the algorithms of later
 * releases (Tiki-Taka, c-TTv2, AGAD) are designed to overcome. */
#define _GNU_SOURCE /* getopt_long, isatty, clock_gettime */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aimc.h"

typedef struct options {
  int steps, batch, size, seeds, threads;
  float lr;
  aimc_backend_t backend;
} options_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: aimc-demo [options]\n"
          "Learns a fixed random target matrix through pulsed analog SGD on every aimc\n"
          "device preset (plus an ideal float update), all replicas in one tile batch.\n\n"
          "  --steps N     update steps (default 1500)\n"
          "  --batch N     samples per step (default 8)\n"
          "  --size N      tile size N x N (default 32)\n"
          "  --seeds N     replicas per device, differing in device draws (default 4)\n"
          "  --lr X        learning rate (default 0.02)\n"
          "  --threads N   CPU threads, 0 = all cores (default 0)\n"
          "  --backend B   auto, cpu or cuda (default auto)\n"
          "  --help        this text\n");
}

static int parse(int argc, char **argv, options_t *o) {
  *o = (options_t){1500, 8, 32, 4, 0, 0.02f, AIMC_BACKEND_AUTO};
  static const struct option longs[] = {
      {"steps", 1, 0, 's'}, {"batch", 1, 0, 'b'},   {"size", 1, 0, 'n'}, {"seeds", 1, 0, 'r'},
      {"lr", 1, 0, 'l'},    {"threads", 1, 0, 't'}, {"backend", 1, 0, 'k'},
      {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
      case 's': o->steps = atoi(optarg); break;
      case 'b': o->batch = atoi(optarg); break;
      case 'n': o->size = atoi(optarg); break;
      case 'r': o->seeds = atoi(optarg); break;
      case 'l': o->lr = strtof(optarg, NULL); break;
      case 't': o->threads = atoi(optarg); break;
      case 'k':
        if (!strcmp(optarg, "auto")) o->backend = AIMC_BACKEND_AUTO;
        else if (!strcmp(optarg, "cpu")) o->backend = AIMC_BACKEND_CPU;
        else if (!strcmp(optarg, "cuda")) o->backend = AIMC_BACKEND_CUDA;
        else {
          fprintf(stderr, "aimc-demo: --backend %s is not one of auto, cpu, cuda\n", optarg);
          return 2;
        }
        break;
      case 'h': usage(stdout); return 1;
      default: usage(stderr); return 2;
    }
  }
  if (o->steps < 1 || o->batch < 1 || o->size < 1 || o->size > 1024 || o->seeds < 1 ||
      o->seeds > 256 || !(o->lr > 0) || o->threads < 0) {
    fprintf(stderr,
            "aimc-demo: need --steps >= 1, --batch >= 1, --size in [1, 1024], --seeds in "
            "[1, 256], --lr > 0, --threads >= 0\n");
    return 2;
  }
  return 0;
}

#define N_ROWS (AIMC_PRESET_COUNT + 1) /* the presets and an ideal float update */

static const char *row_name(int r) {
  return r < AIMC_PRESET_COUNT ? aimc_device_preset_name((aimc_device_preset_t)r)
                               : "float (no device)";
}

static void row_config(int r, float lr, aimc_tile_config_t *cfg) {
  aimc_tile_config_default(cfg);
  cfg->update.learning_rate = lr;
  if (r < AIMC_PRESET_COUNT)
    aimc_device_desc_preset(&cfg->device, (aimc_device_preset_t)r);
  else
    cfg->update.pulse_type = AIMC_PULSE_NONE;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Uniform in [-1, 1) from a splitmix64 sequence (the demo's own data). */
static float uniform(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

static void progress(int step, int steps, double elapsed, int tty) {
  double eta = elapsed / step * (steps - step);
  if (tty) {
    int width = 30, done = (int)((double)width * step / steps);
    fprintf(stderr, "\r[%.*s%*s] %d/%d steps, %.1f s, ETA %.1f s ", done,
            "##############################", width - done, "", step, steps, elapsed, eta);
    if (step == steps) fputc('\n', stderr);
  } else if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0 || step == steps) {
    fprintf(stderr, "step %d/%d, %.1f s, ETA %.1f s\n", step, steps, elapsed, eta);
  }
}

#define CHECK(call)                                                               \
  do {                                                                            \
    aimc_status_t s_ = (call);                                                    \
    if (s_ != AIMC_OK) {                                                          \
      fprintf(stderr, "aimc-demo: %s: %s\n", aimc_status_string(s_), aimc_last_error()); \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

int main(int argc, char **argv) {
  options_t o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;
  int n = o.size, tiles = N_ROWS * o.seeds;
  size_t nw = (size_t)tiles * n * n, nx = (size_t)tiles * o.batch * n;

  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = o.backend;
  cd.n_threads = o.threads;
  aimc_context_t *ctx;
  CHECK(aimc_context_create(&ctx, &cd));

  aimc_tile_config_t *cfg = calloc((size_t)tiles, sizeof *cfg);
  uint64_t *seeds = calloc((size_t)tiles, sizeof *seeds);
  float *target = malloc(nw * sizeof(float)), *w = malloc(nw * sizeof(float));
  float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
  float *d = malloc(nx * sizeof(float));
  if (!cfg || !seeds || !target || !w || !x || !y || !d) {
    fprintf(stderr, "aimc-demo: out of memory\n");
    return 1;
  }
  for (int t = 0; t < tiles; ++t) {
    row_config(t / o.seeds, o.lr, &cfg[t]);
    seeds[t] = 1000u + (uint64_t)(t % o.seeds); /* replica r of every device shares seed r */
  }
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = tiles, td.rows = n, td.cols = n;
  td.per_tile = cfg;
  td.tile_seeds = seeds;
  aimc_tiles_t *batch;
  CHECK(aimc_tiles_create(ctx, &td, &batch));

  /* One target for all tiles, inside every preset's weight range. */
  uint64_t rng = 7;
  for (int k = 0; k < n * n; ++k) target[k] = 0.5f * uniform(&rng);
  for (int t = 1; t < tiles; ++t) memcpy(target + (size_t)t * n * n, target, n * n * sizeof(float));

  /* Device buffers (the context's memory space; host memory on the CPU). */
  float *dev_x, *dev_y, *dev_d;
  CHECK(aimc_malloc(ctx, (void **)&dev_x, (size_t)o.batch * n * sizeof(float)));
  CHECK(aimc_malloc(ctx, (void **)&dev_y, nx * sizeof(float)));
  CHECK(aimc_malloc(ctx, (void **)&dev_d, nx * sizeof(float)));

  printf("aimc-demo: %d tiles of %dx%d (%d devices x %d seeds) on the %s backend, %d steps of "
         "batch %d, lr %g\n",
         tiles, n, n, N_ROWS, o.seeds,
         aimc_context_backend(ctx) == AIMC_BACKEND_CUDA ? "CUDA" : "CPU", o.steps, o.batch,
         (double)o.lr);
  int tty = isatty(fileno(stderr));
  double t0 = now(), t_update = 0;
  for (int step = 1; step <= o.steps; ++step) {
    for (int k = 0; k < o.batch * n; ++k) x[k] = uniform(&rng);
    CHECK(aimc_memcpy(ctx, dev_x, x, (size_t)o.batch * n * sizeof(float),
                      AIMC_COPY_HOST_TO_CONTEXT));
    CHECK(aimc_tiles_mvm_ex(batch, AIMC_FORWARD, dev_x, 0, dev_y, o.batch)); /* shared x */
    CHECK(aimc_memcpy(ctx, y, dev_y, nx * sizeof(float), AIMC_COPY_CONTEXT_TO_HOST));
    for (int t = 0; t < tiles; ++t)
      for (int b = 0; b < o.batch; ++b)
        for (int i = 0; i < n; ++i) {
          float want = 0;
          for (int j = 0; j < n; ++j) want += target[i * n + j] * x[b * n + j];
          size_t k = ((size_t)t * o.batch + b) * n + i;
          d[k] = y[k] - want;
        }
    CHECK(aimc_memcpy(ctx, dev_d, d, nx * sizeof(float), AIMC_COPY_HOST_TO_CONTEXT));
    double tu = now();
    CHECK(aimc_tiles_update_ex(batch, dev_x, 0, dev_d, (int64_t)o.batch * n, o.batch));
    CHECK(aimc_context_synchronize(ctx));
    t_update += now() - tu;
    progress(step, o.steps, now() - t0, tty);
  }
  double elapsed = now() - t0;

  float *dev_w;
  CHECK(aimc_malloc(ctx, (void **)&dev_w, nw * sizeof(float)));
  CHECK(aimc_tiles_get_weights(batch, dev_w));
  CHECK(aimc_memcpy(ctx, w, dev_w, nw * sizeof(float), AIMC_COPY_CONTEXT_TO_HOST));
  aimc_free(ctx, dev_w);
  aimc_tile_stats_t *st = calloc((size_t)tiles, sizeof *st);
  CHECK(aimc_tiles_get_stats(batch, st));
  double target_rms = 0;
  for (int k = 0; k < n * n; ++k) target_rms += (double)target[k] * target[k];
  target_rms = sqrt(target_rms / (n * n));

  printf("\n%-20s %18s %14s\n", "device", "weight error (%)", "pulses/weight");
  for (int r = 0; r < N_ROWS; ++r) {
    double e_sum = 0, e_sq = 0, pulses = 0;
    for (int s = 0; s < o.seeds; ++s) {
      int t = r * o.seeds + s;
      double se = 0;
      for (int k = 0; k < n * n; ++k) {
        double e = w[(size_t)t * n * n + k] - target[k];
        se += e * e;
      }
      double err = 100.0 * sqrt(se / (n * n)) / target_rms;
      e_sum += err, e_sq += err * err;
      pulses += (double)(st[t].pulses_up + st[t].pulses_down) / (n * n);
    }
    double mean = e_sum / o.seeds;
    double sd = o.seeds > 1 ? sqrt(fmax(e_sq / o.seeds - mean * mean, 0) * o.seeds / (o.seeds - 1)) : 0;
    printf("%-20s %10.2f +- %-5.2f %14.1f\n", row_name(r), mean, sd, pulses / o.seeds);
  }
  printf("\nweight error: RMS(W - W*) / RMS(W*), mean +- sd over %d seeds\n", o.seeds);
  printf("time: %.2f s total, %.2f s in updates (%.3g weight-samples updated per second)\n",
         elapsed, t_update, (double)nw * o.batch * o.steps / t_update);

  aimc_free(ctx, dev_x), aimc_free(ctx, dev_y), aimc_free(ctx, dev_d);
  aimc_tiles_destroy(batch);
  aimc_context_destroy(ctx);
  free(cfg), free(seeds), free(target), free(w), free(x), free(y), free(d), free(st);
  return 0;
}
