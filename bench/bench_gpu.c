/* GPU benchmark of the core operations on the CUDA backend: pulsed update,
 * forward and backward reads of tile batches, against the bandwidth of a
 * device-to-device copy and against cuBLAS SgemmStridedBatched on the same
 * shapes, all measured in the same run.
 *
 * Grid (each dimension restricted by an option): n_tiles 1, 64, 1024, 4096;
 * tiles 256x256 and 512x512; batch 1, 16, 128. Every tile is a SoftBounds
 * device with the default device-to-device spreads and cycle-to-cycle noise
 * (dw_min 0.001, dw_min_dtod 0.3, dw_min_std 0.3, w_max/w_min +-0.6 with
 * dtod 0.3, up_down_dtod 0.01), the default IO (7-bit DAC, 9-bit ADC, output
 * noise 0.06, bound 12, abs-max noise management, iterative bound management
 * on forward reads) and the default update (stochastic pulse trains, BL 31
 * with update and BL management) at learning rate 0.01: BL shrinks to
 * ceil(lr max|x| max|d| / dw_min) = 10 slots for the inputs below, and each
 * weight takes about 2.5 pulses per sample. Weights are programmed uniform in
 * +-0.3; x and d are uniform in [-1, 1] (never zeros).
 *
 * Timing: CUDA events on the context's stream. One warm-up call, one call
 * to size the repeats, then the median of 5 groups of repeats (3 groups of
 * one call above 100 ms, the sizing call alone above 1 s) with at least
 * --min-ms of timed work in all.
 *
 * Bytes that must move (the floor of each operation):
 *   update   8 bytes per weight (read + write of the weight; the SoftBounds
 *            device state is the weight itself) + 4 bytes for each
 *            per-weight parameter plane the update reads: a SoftBounds batch
 *            allocates 6 (min and max bound, up and down step, up and down
 *            slope; host/tiles.c needed_planes, read by aimc_load_wparams),
 *            so 32 bytes per weight; + the inputs x and d, 4 bytes each.
 *   forward  W read once (4 bytes per weight) + x read + y written.
 *   backward W read once + d read + the result written.
 * GB/s is that count over the time per call; "of copy" is GB/s over the
 * copy bandwidth (bytes read + bytes written of a >= 1 GiB cudaMemcpyAsync).
 * For reads, cuBLAS SgemmStridedBatched (fp32, no TF32) runs the exact
 * product on the same W, inputs and batch; cuBLAS/aimc is its time over
 * ours, and rel. err is ||y_aimc - y_cublas|| / ||y_cublas|| on a sample of
 * the outputs (the IO noise alone gives about 0.03-0.05).
 *
 * Output: a markdown report on stdout, progress on stderr, optionally every
 * row as CSV (--csv). Exit status 77 when there is no CUDA backend or GPU. */
#define _POSIX_C_SOURCE 200809L
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimc.h"

/* ---- Fixed settings ------------------------------------------------------ */

#define UPDATE_PARAM_PLANES 6 /* SoftBounds: bmin, bmax, step up/down, slope up/down */
#define LEARNING_RATE 0.01f
#define WEIGHT_RANGE 0.3f
#define MAX_LIST 16
#define POOL_LEN (((size_t)1 << 22) + 4099) /* floats per random pool */
#define POOL_SEG ((size_t)1 << 20)          /* floats per copy out of a pool */
#define CHECK_CHUNK ((size_t)1 << 20)       /* floats per sampled chunk of a check */
#define CHECK_CHUNKS 4
#define ERR_LIMIT 0.2 /* rel. err above this flags a read as wrong */

typedef enum { OP_UPDATE = 0, OP_FORWARD = 1, OP_BACKWARD = 2, OP_COUNT = 3 } op_t;
static const char *const op_names[OP_COUNT] = {"update", "forward", "backward"};

typedef enum { ROW_OK = 0, ROW_SKIPPED = 1, ROW_FAILED = 2 } row_status_t;
static const char *const status_names[3] = {"ok", "skipped", "failed"};

typedef struct result {
  op_t op;
  int64_t tiles;
  int rows, cols, batch;
  row_status_t status;
  double ms;        /* median time per call */
  double bytes;     /* bytes that must move per call */
  int calls;        /* timed calls */
  double cublas_ms; /* reads: cuBLAS time per call (0: none) */
  double err;       /* reads: relative error against cuBLAS (NAN: not finite) */
  double pulses;    /* update: device pulses per weight and sample (-1: unknown) */
  int l2;           /* the data of one call fit in L2 */
  int fast;         /* reads: the context's fast read mode (cuBLAS products) */
  char note[160];
} result_t;

typedef struct options {
  int64_t tiles[MAX_LIST];
  int n_tiles;
  int rows[MAX_LIST], cols[MAX_LIST];
  int n_shapes;
  int batches[MAX_LIST];
  int n_batches;
  int ops[OP_COUNT];
  double min_ms;
  size_t copy_mib;
  const char *csv;
  int device;
  uint64_t seed;
} options_t;

/* ---- Global state -------------------------------------------------------- */

static struct {
  aimc_context_t *ctx;
  cudaStream_t stream;
  cublasHandle_t blas;
  cudaEvent_t ev0, ev1;
  float *pool_in, *pool_w; /* device pools of random floats: inputs, weights */
  float *host_a, *host_b;  /* host buffers for the checks */
  double copy_gbps, copy_gbps_end;
  size_t l2_bytes;
  result_t *results;
  size_t n_results, cap_results;
  FILE *csv;
  double t_start;
  int header_printed, tables_printed, failed_rows;
} g;

static void print_tables(const char *status_line);

/* The row's operation as the tables and the CSV name it: fast-mode reads
 * are "forward-fast" and "backward-fast". */
static const char *row_name(const result_t *r) {
  if (!r->fast) return op_names[r->op];
  return r->op == OP_FORWARD ? "forward-fast" : "backward-fast";
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Unrecoverable error: say why, print what was measured, exit 1. */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "bench_gpu: %s\n", msg);
  if (g.header_printed && !g.tables_printed) {
    char line[1200];
    snprintf(line, sizeof line, "**INCOMPLETE: bench_gpu stopped at an error: %s**", msg);
    print_tables(line);
  }
  if (g.csv) fclose(g.csv);
  exit(1);
}

#define CUDA_CHECK(call)                                                                       \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess)                                                                     \
      fatal("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call, cudaGetErrorName(e_),             \
            cudaGetErrorString(e_));                                                           \
  } while (0)

#define CUBLAS_CHECK(call)                                                                     \
  do {                                                                                         \
    cublasStatus_t s_ = (call);                                                                \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
      fatal("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call, cublasGetStatusName(s_),          \
            cublasGetStatusString(s_));                                                        \
  } while (0)

#define AIMC_CHECK(call)                                                                       \
  do {                                                                                         \
    aimc_status_t a_ = (call);                                                                 \
    if (a_ != AIMC_OK)                                                                         \
      fatal("%s:%d: %s: %s: %s", __FILE__, __LINE__, #call, aimc_status_string(a_),            \
            aimc_last_error());                                                                \
  } while (0)

static void sync_stream(void) { CUDA_CHECK(cudaStreamSynchronize(g.stream)); }

/* ---- Options ------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_gpu [--tiles LIST] [--shapes LIST] [--batches LIST] [--ops LIST]\n"
          "                 [--min-ms MS] [--copy-mib MIB] [--csv FILE] [--device N] [--seed S]\n"
          "  --tiles    n_tiles per batch (default 1,64,1024,4096)\n"
          "  --shapes   tile shapes: N (NxN) or RxC (default 256,512)\n"
          "  --batches  samples per call (default 1,16,128)\n"
          "  --ops      update,forward,backward (default all three)\n"
          "  --min-ms   timed work per operation and row, ms (default 50)\n"
          "  --copy-mib size of the device-to-device copy reference, >= 1024 (default 1024)\n"
          "  --csv      also write every row to FILE as CSV\n"
          "  --device   CUDA device ordinal (default 0)\n"
          "  --seed     seed of the tile batches (default 1)\n"
          "  --all      the whole grid (the default; accepted for symmetry with the peer)\n"
          "Prints a markdown report on stdout and progress on stderr; exits 77 when no\n"
          "CUDA backend or GPU is available.\n");
}

static void bad_option(const char *opt, const char *val, const char *why) {
  fprintf(stderr, "bench_gpu: %s%s%s: %s\n", opt, val ? " " : "", val ? val : "", why);
  usage(stderr);
  exit(2);
}

/* Comma-separated positive integers; returns how many. */
static int parse_ints(const char *opt, const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s) bad_option(opt, s, "needs a value");
  int n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < lo || v > hi || (*end && *end != ',')) {
      char why[96];
      snprintf(why, sizeof why, "expected comma-separated integers in [%lld, %lld]", lo, hi);
      bad_option(opt, s, why);
    }
    if (n == MAX_LIST) bad_option(opt, s, "too many values (at most 16)");
    out[n++] = v;
    p = *end ? end + 1 : end;
  }
  return n;
}

static void parse_shapes(const char *s, options_t *o) {
  if (!s || !*s) bad_option("--shapes", s, "needs a value");
  o->n_shapes = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long r = strtol(p, &end, 10), c = r;
    if (end != p && (*end == 'x' || *end == 'X')) {
      const char *q = end + 1;
      c = strtol(q, &end, 10);
      if (end == q) r = 0;
    }
    if (end == p || r < 1 || r > 65536 || c < 1 || c > 65536 || (*end && *end != ','))
      bad_option("--shapes", s, "expected a comma-separated list of N or RxC, 1..65536");
    if (o->n_shapes == MAX_LIST) bad_option("--shapes", s, "too many values (at most 16)");
    o->rows[o->n_shapes] = (int)r;
    o->cols[o->n_shapes] = (int)c;
    o->n_shapes++;
    p = *end ? end + 1 : end;
  }
}

static void parse_ops(const char *s, options_t *o) {
  if (!s || !*s) bad_option("--ops", s, "needs a value");
  for (int k = 0; k < OP_COUNT; ++k) o->ops[k] = 0;
  const char *p = s;
  while (*p) {
    size_t len = strcspn(p, ",");
    int found = 0;
    for (int k = 0; k < OP_COUNT; ++k)
      if (strlen(op_names[k]) == len && strncmp(p, op_names[k], len) == 0) o->ops[k] = found = 1;
    if (!found) bad_option("--ops", s, "expected a comma-separated list of update, forward, backward");
    p += len;
    if (*p == ',') ++p;
  }
}

static void parse_options(int argc, char **argv, options_t *o) {
  static const int64_t def_tiles[] = {1, 64, 1024, 4096};
  static const int def_shapes[] = {256, 512};
  static const int def_batches[] = {1, 16, 128};
  memset(o, 0, sizeof *o);
  o->n_tiles = 4;
  for (int k = 0; k < 4; ++k) o->tiles[k] = def_tiles[k];
  o->n_shapes = 2;
  for (int k = 0; k < 2; ++k) o->rows[k] = o->cols[k] = def_shapes[k];
  o->n_batches = 3;
  for (int k = 0; k < 3; ++k) o->batches[k] = def_batches[k];
  for (int k = 0; k < OP_COUNT; ++k) o->ops[k] = 1;
  o->min_ms = 50.0;
  o->copy_mib = 1024;
  o->seed = 1;
  long long v[MAX_LIST];
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--all")) {
      continue;
    } else if (!strcmp(a, "--tiles")) {
      o->n_tiles = parse_ints(a, val, 1, 1 << 20, v);
      for (int k = 0; k < o->n_tiles; ++k) o->tiles[k] = v[k];
    } else if (!strcmp(a, "--shapes")) {
      parse_shapes(val, o);
    } else if (!strcmp(a, "--batches")) {
      o->n_batches = parse_ints(a, val, 1, 1 << 16, v);
      for (int k = 0; k < o->n_batches; ++k) o->batches[k] = (int)v[k];
    } else if (!strcmp(a, "--ops")) {
      parse_ops(val, o);
    } else if (!strcmp(a, "--min-ms")) {
      char *end;
      o->min_ms = val ? strtod(val, &end) : 0.0;
      if (!val || *end || !(o->min_ms >= 1.0 && o->min_ms <= 60000.0))
        bad_option(a, val, "expected a number of ms in [1, 60000]");
    } else if (!strcmp(a, "--copy-mib")) {
      parse_ints(a, val, 1024, 65536, v);
      o->copy_mib = (size_t)v[0];
    } else if (!strcmp(a, "--csv")) {
      if (!val) bad_option(a, val, "needs a file name");
      o->csv = val;
    } else if (!strcmp(a, "--device")) {
      parse_ints(a, val, 0, 1024, v);
      o->device = (int)v[0];
    } else if (!strcmp(a, "--seed")) {
      parse_ints(a, val, 0, (long long)1 << 62, v);
      o->seed = (uint64_t)v[0];
    } else {
      bad_option(a, NULL, "unknown option");
    }
    ++i; /* every option but --help and --all takes a value */
  }
}

/* ---- Results ------------------------------------------------------------- */

static void sanitize(char *s) {
  for (; *s; ++s)
    if (*s == '|' || *s == ',' || *s == '\n' || *s == '"') *s = *s == '\n' ? ' ' : ';';
}

static double bw(const result_t *r) { return r->ms > 0 ? r->bytes / (r->ms * 1e-3) / 1e9 : 0; }

static void add_result(const result_t *r) {
  if (g.n_results == g.cap_results) {
    size_t cap = g.cap_results ? 2 * g.cap_results : 64;
    result_t *p = realloc(g.results, cap * sizeof *p);
    if (!p) fatal("out of host memory for the results");
    g.results = p;
    g.cap_results = cap;
  }
  result_t *s = &g.results[g.n_results++];
  *s = *r;
  sanitize(s->note);
  if (s->status == ROW_FAILED) g.failed_rows++;
  double gbps = bw(s);
  if (g.csv) {
    fprintf(g.csv, "%s,%lld,%d,%d,%d,%s,%.6f,%.0f,%.3f,%.4f,%.6f,%.4f,%.5f,%.4f,%d,%d,%s\n",
            row_name(s), (long long)s->tiles, s->rows, s->cols, s->batch,
            status_names[s->status], s->ms, s->bytes, gbps,
            g.copy_gbps > 0 ? gbps / g.copy_gbps : 0.0, s->cublas_ms,
            s->cublas_ms > 0 && s->ms > 0 ? s->cublas_ms / s->ms : 0.0, s->err, s->pulses,
            s->calls, s->l2, s->note);
    fflush(g.csv);
  }
  fprintf(stderr, "[%7.1f s] %-8s %5lld x %dx%d batch %-4d ", now() - g.t_start, row_name(s),
          (long long)s->tiles, s->rows, s->cols, s->batch);
  if (s->status == ROW_OK) {
    fprintf(stderr, "%10.4f ms  %8.1f GB/s  %5.1f%% of copy", s->ms, gbps,
            g.copy_gbps > 0 ? 100.0 * gbps / g.copy_gbps : 0.0);
    if (s->cublas_ms > 0) fprintf(stderr, "  cuBLAS %.4f ms  err %.3g", s->cublas_ms, s->err);
    if (s->pulses >= 0 && s->op == OP_UPDATE) fprintf(stderr, "  %.2f pulses", s->pulses);
  } else {
    fprintf(stderr, "%s", status_names[s->status]);
  }
  fprintf(stderr, "%s%s\n", s->note[0] ? "  " : "", s->note);
}

static void print_tables(const char *status_line) {
  if (g.tables_printed) return;
  g.tables_printed = 1;
  if (status_line) printf("%s\n\n", status_line);
  int any_update = 0, any_read = 0;
  for (size_t k = 0; k < g.n_results; ++k) {
    if (g.results[k].op == OP_UPDATE) any_update = 1;
    else any_read = 1;
  }
  double cg = g.copy_gbps;
  if (any_update) {
    printf("### Pulsed update\n\n");
    printf("| tiles | shape | batch | ms/call | MB moved | GB/s | of copy | pulses/w/sample | timed "
           "calls | note |\n");
    printf("|------:|:------|------:|--------:|---------:|-----:|--------:|----------------:|------"
           "------:|:-----|\n");
    for (size_t k = 0; k < g.n_results; ++k) {
      const result_t *r = &g.results[k];
      if (r->op != OP_UPDATE) continue;
      printf("| %lld | %dx%d | %d | ", (long long)r->tiles, r->rows, r->cols, r->batch);
      if (r->status == ROW_OK) {
        double gb = bw(r);
        printf("%.4f | %.1f | %.1f | %.1f%% | ", r->ms, r->bytes / 1e6, gb, 100.0 * gb / cg);
        if (r->pulses >= 0) printf("%.2f", r->pulses);
        else printf("n/a");
        printf(" | %d | %s%s%s |\n", r->calls, r->l2 ? "fits in L2" : "",
               r->l2 && r->note[0] ? "; " : "", r->note);
      } else {
        printf("- | %.1f | - | - | - | - | %s: %s |\n", r->bytes / 1e6, status_names[r->status],
               r->note);
      }
    }
    printf("\n");
  }
  if (any_read) {
    printf("### Forward and backward reads (cuBLAS SgemmStridedBatched, fp32, as the reference)\n\n");
    printf("| op | tiles | shape | batch | ms/call | MB moved | GB/s | of copy | cuBLAS ms | cuBLAS "
           "GB/s | cuBLAS/aimc | rel. err | timed calls | note |\n");
    printf("|:---|------:|:------|------:|--------:|---------:|-----:|--------:|----------:|-------"
           "----:|------------:|---------:|------------:|:-----|\n");
    for (int op = OP_FORWARD; op <= OP_BACKWARD; ++op)
      for (size_t k = 0; k < g.n_results; ++k) {
        const result_t *r = &g.results[k];
        if ((int)r->op != op) continue;
        printf("| %s | %lld | %dx%d | %d | ", row_name(r), (long long)r->tiles, r->rows,
               r->cols, r->batch);
        if (r->status == ROW_OK) {
          double gb = bw(r);
          printf("%.4f | %.1f | %.1f | %.1f%% | ", r->ms, r->bytes / 1e6, gb, 100.0 * gb / cg);
          if (r->cublas_ms > 0) {
            double cgb = r->bytes / (r->cublas_ms * 1e-3) / 1e9;
            printf("%.4f | %.1f | %.3g | ", r->cublas_ms, cgb, r->cublas_ms / r->ms);
          } else {
            printf("- | - | - | ");
          }
          if (isnan(r->err)) printf("NaN");
          else printf("%.3g", r->err);
          printf(" | %d | %s%s%s |\n", r->calls, r->l2 ? "fits in L2" : "",
                 r->l2 && r->note[0] ? "; " : "", r->note);
        } else {
          printf("- | %.1f | - | - | - | - | - | - | - | %s: %s |\n", r->bytes / 1e6,
                 status_names[r->status], r->note);
        }
      }
    printf("\n");
  }
  if (g.copy_gbps_end > 0)
    printf("Copy bandwidth measured again after the rows: %.1f GB/s (%.1f%% of the first).\n\n",
           g.copy_gbps_end, 100.0 * g.copy_gbps_end / g.copy_gbps);
  fflush(stdout);
}

/* ---- Device helpers ------------------------------------------------------ */

static uint64_t rng_state = 0x1234567u;
static double uniform_pm1(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-52 - 1.0; /* [-1, 1) */
}

static float *make_pool(float scale) {
  float *h = malloc(POOL_LEN * sizeof *h);
  if (!h) fatal("out of host memory for the random pool");
  for (size_t k = 0; k < POOL_LEN; ++k) {
    float v = (float)(scale * uniform_pm1());
    h[k] = v != 0.0f ? v : scale * 0.5f; /* never an exact zero */
  }
  float *d;
  CUDA_CHECK(cudaMalloc((void **)&d, POOL_LEN * sizeof *d));
  CUDA_CHECK(cudaMemcpyAsync(d, h, POOL_LEN * sizeof *d, cudaMemcpyHostToDevice, g.stream));
  sync_stream();
  free(h);
  return d;
}

/* Fills n floats at dst with random values: segments of the pool taken at
 * scattered offsets (data for timing, not for statistics). */
static void fill_random(float *dst, size_t n, const float *pool, uint64_t salt) {
  size_t k = 0;
  for (size_t off = 0; off < n; off += POOL_SEG, ++k) {
    size_t len = n - off < POOL_SEG ? n - off : POOL_SEG;
    size_t start = (size_t)(((uint64_t)k * 2654435761u + salt * 40503u + 17u) % (POOL_LEN - POOL_SEG));
    CUDA_CHECK(cudaMemcpyAsync(dst + off, pool + start, len * sizeof *dst,
                               cudaMemcpyDeviceToDevice, g.stream));
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Bytes read + written per second of a device-to-device copy (median of 10). */
static double copy_bandwidth(size_t bytes) {
  void *a, *b;
  CUDA_CHECK(cudaMalloc(&a, bytes));
  CUDA_CHECK(cudaMalloc(&b, bytes));
  CUDA_CHECK(cudaMemsetAsync(a, 0x5a, bytes, g.stream));
  CUDA_CHECK(cudaMemsetAsync(b, 0x33, bytes, g.stream));
  for (int r = 0; r < 2; ++r)
    CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, g.stream));
  double s[10];
  for (int r = 0; r < 10; ++r) {
    CUDA_CHECK(cudaEventRecord(g.ev0, g.stream));
    CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, g.stream));
    CUDA_CHECK(cudaEventRecord(g.ev1, g.stream));
    CUDA_CHECK(cudaEventSynchronize(g.ev1));
    float ms;
    CUDA_CHECK(cudaEventElapsedTime(&ms, g.ev0, g.ev1));
    s[r] = ms;
  }
  qsort(s, 10, sizeof s[0], cmp_double);
  CUDA_CHECK(cudaFree(a));
  CUDA_CHECK(cudaFree(b));
  return 2.0 * (double)bytes / (0.5 * (s[4] + s[5]) * 1e-3) / 1e9;
}

/* ---- Operations ---------------------------------------------------------- */

typedef struct job {
  op_t op;
  int cublas; /* 1: cuBLAS SgemmStridedBatched instead of aimc (reads only) */
  aimc_tiles_t *tiles;
  int64_t n;
  int rows, cols, batch;
  const float *x, *d, *w;
  float *y;
} job_t;

/* Queues one call; returns its aimc status (cuBLAS errors are fatal). */
static aimc_status_t enqueue(const job_t *j) {
  if (!j->cublas) {
    switch (j->op) {
      case OP_UPDATE: return aimc_tiles_update(j->tiles, j->x, j->d, j->batch);
      case OP_FORWARD: return aimc_tiles_forward(j->tiles, j->x, j->y, j->batch);
      case OP_BACKWARD: return aimc_tiles_backward(j->tiles, j->d, j->y, j->batch);
      default: return AIMC_ERR_INVALID_ARGUMENT;
    }
  }
  /* Row-major [tile][rows][cols] W is column-major cols x rows (ld cols);
   * x [tile][batch][cols] is column-major cols x batch, and so on. */
  const float one = 1.0f, zero = 0.0f;
  long long sw = (long long)j->rows * j->cols;
  long long sx = (long long)j->batch * j->cols, sd = (long long)j->batch * j->rows;
  if (j->op == OP_FORWARD) /* y (rows x batch) = W (rows x cols) x (cols x batch) */
    CUBLAS_CHECK(cublasSgemmStridedBatched(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, j->rows, j->batch,
                                           j->cols, &one, j->w, j->cols, sw, j->x, j->cols, sx,
                                           &zero, j->y, j->rows, sd, (int)j->n));
  else /* g (cols x batch) = W^T (cols x rows) d (rows x batch) */
    CUBLAS_CHECK(cublasSgemmStridedBatched(g.blas, CUBLAS_OP_N, CUBLAS_OP_N, j->cols, j->batch,
                                           j->rows, &one, j->w, j->cols, sw, j->d, j->rows, sd,
                                           &zero, j->y, j->cols, sx, (int)j->n));
  return AIMC_OK;
}

static double event_ms(void) {
  CUDA_CHECK(cudaEventSynchronize(g.ev1));
  float ms;
  CUDA_CHECK(cudaEventElapsedTime(&ms, g.ev0, g.ev1));
  return ms;
}

/* Median ms per call of a job; *calls gets the calls made (warm-up
 * included) and *timed the timed ones. Returns the aimc status of the
 * first failing call, with its message in note. */
static aimc_status_t time_job(const job_t *j, double min_ms, double *ms, int *calls, int *timed,
                              char *note, size_t note_len) {
  *ms = 0;
  *calls = 0;
  *timed = 0;
  aimc_status_t s;
#define ENQ()                                                                  \
  do {                                                                         \
    if ((s = enqueue(j)) != AIMC_OK) {                                         \
      snprintf(note, note_len, "%s: %s", aimc_status_string(s), aimc_last_error()); \
      return s;                                                                \
    }                                                                          \
    ++*calls;                                                                  \
  } while (0)
  double t0 = now();
  ENQ(); /* warm-up: workspaces, module loading, handle setup */
  sync_stream();
  double warm_ms = 1e3 * (now() - t0);
  if (warm_ms > 5000.0) { /* too slow to repeat within the run's budget */
    *ms = warm_ms;
    snprintf(note, note_len, "warm-up call only (host clock)");
    return AIMC_OK;
  }
  CUDA_CHECK(cudaEventRecord(g.ev0, g.stream));
  ENQ();
  CUDA_CHECK(cudaEventRecord(g.ev1, g.stream));
  double t1 = event_ms();
  if (t1 >= 1000.0) {
    *ms = t1;
    *timed = 1;
    return AIMC_OK;
  }
  int groups = t1 >= 100.0 ? 3 : 5;
  double per_group = min_ms / groups;
  long reps = t1 >= 100.0 ? 1 : (long)ceil(per_group / (t1 > 1e-4 ? t1 : 1e-4));
  if (reps < 1) reps = 1;
  if (reps > 20000) reps = 20000;
  double gms[5];
  for (int k = 0; k < groups; ++k) {
    CUDA_CHECK(cudaEventRecord(g.ev0, g.stream));
    for (long r = 0; r < reps; ++r) ENQ();
    CUDA_CHECK(cudaEventRecord(g.ev1, g.stream));
    gms[k] = event_ms() / (double)reps;
  }
#undef ENQ
  qsort(gms, (size_t)groups, sizeof gms[0], cmp_double);
  *ms = gms[groups / 2];
  *timed = groups * (int)reps;
  return AIMC_OK;
}

/* Copies up to CHECK_CHUNKS chunks of n floats at src (evenly spread) to
 * host; returns the number of floats copied. */
static size_t sample_to_host(const float *src, size_t n, float *host) {
  size_t chunks = n <= CHECK_CHUNKS * CHECK_CHUNK ? 1 : CHECK_CHUNKS;
  size_t len = chunks == 1 ? n : CHECK_CHUNK, got = 0;
  for (size_t c = 0; c < chunks; ++c) {
    size_t off = chunks == 1 ? 0 : c * (n - len) / (chunks - 1);
    CUDA_CHECK(cudaMemcpyAsync(host + got, src + off, len * sizeof *host, cudaMemcpyDeviceToHost,
                               g.stream));
    got += len;
  }
  sync_stream();
  return got;
}

/* One aimc read and one cuBLAS product into NaN-poisoned outputs; returns
 * ||y - y_ref|| / ||y_ref|| over a sample (NAN if any sampled output is not
 * finite, i.e. unwritten or broken). *st gets aimc's status. */
static double check_read(const job_t *ours, const job_t *ref, aimc_status_t *st, char *note,
                         size_t note_len) {
  size_t n_out = (size_t)ours->n * (size_t)ours->batch *
                 (size_t)(ours->op == OP_FORWARD ? ours->rows : ours->cols);
  CUDA_CHECK(cudaMemsetAsync(ours->y, 0xff, n_out * sizeof(float), g.stream));
  CUDA_CHECK(cudaMemsetAsync(ref->y, 0xff, n_out * sizeof(float), g.stream));
  *st = enqueue(ours);
  if (*st != AIMC_OK) {
    snprintf(note, note_len, "%s: %s", aimc_status_string(*st), aimc_last_error());
    return NAN;
  }
  enqueue(ref);
  size_t m = sample_to_host(ours->y, n_out, g.host_a);
  sample_to_host(ref->y, n_out, g.host_b);
  double num = 0, den = 0;
  for (size_t k = 0; k < m; ++k) {
    double a = g.host_a[k], b = g.host_b[k];
    if (!isfinite(a) || !isfinite(b)) return NAN;
    num += (a - b) * (a - b);
    den += b * b;
  }
  return den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
}

/* ---- Rows ---------------------------------------------------------------- */

static double op_bytes(op_t op, int64_t n, int rows, int cols, int batch) {
  double nw = (double)n * rows * cols, in_out = (double)n * batch * (rows + cols) * 4.0;
  if (op == OP_UPDATE) return nw * (8.0 + 4.0 * UPDATE_PARAM_PLANES) + in_out;
  return nw * 4.0 + in_out;
}

/* Bytes of one call's data that stay resident between calls (L2 test). */
static double op_footprint(op_t op, int64_t n, int rows, int cols, int batch) {
  double nw = (double)n * rows * cols, in_out = (double)n * batch * (rows + cols) * 4.0;
  return nw * (op == OP_UPDATE ? 4.0 * (1 + UPDATE_PARAM_PLANES) : 4.0) + in_out;
}

/* Device memory a (tiles, shape) needs at batch b: the tile state (weights
 * and 6 parameter planes), our W copy, x, d and two outputs, plus a margin
 * for the backend's workspaces. */
static double row_memory(int64_t n, int rows, int cols, int b) {
  double nw = (double)n * rows * cols;
  double io = (double)n * b * ((double)rows + cols + 2.0 * (rows > cols ? rows : cols));
  double need = 4.0 * (nw * (1 + UPDATE_PARAM_PLANES) + nw + io);
  return need * 1.1 + 1024.0 * 1048576.0;
}

static void row_result(result_t *r, op_t op, int64_t n, int rows, int cols, int batch) {
  memset(r, 0, sizeof *r);
  r->op = op;
  r->tiles = n;
  r->rows = rows;
  r->cols = cols;
  r->batch = batch;
  r->bytes = op_bytes(op, n, rows, cols, batch);
  r->pulses = -1;
  r->l2 = op_footprint(op, n, rows, cols, batch) <= (double)g.l2_bytes;
}

static void skip_rows(const options_t *o, int64_t n, int rows, int cols, int b, row_status_t st,
                      const char *why) {
  for (int op = 0; op < OP_COUNT; ++op) {
    if (!o->ops[op]) continue;
    result_t r;
    row_result(&r, (op_t)op, n, rows, cols, b);
    r.status = st;
    snprintf(r.note, sizeof r.note, "%s", why);
    add_result(&r);
  }
}

static void run_read_in_mode(const options_t *o, aimc_tiles_t *t, result_t *rp, const float *x,
                             const float *d, float *w, float *y, float *yref);

/* One read row in the exact or (fast) the fast read mode of the context. */
static void run_read(const options_t *o, aimc_tiles_t *t, op_t op, int64_t n, int rows, int cols,
                     int b, const float *x, const float *d, float *w, float *y, float *yref,
                     int fast) {
  result_t r;
  row_result(&r, op, n, rows, cols, b);
  r.fast = fast;
  AIMC_CHECK(aimc_context_set_read_mode(g.ctx, fast ? AIMC_READ_FAST : AIMC_READ_EXACT));
  run_read_in_mode(o, t, &r, x, d, w, y, yref);
  AIMC_CHECK(aimc_context_set_read_mode(g.ctx, AIMC_READ_EXACT));
}

static void run_read_in_mode(const options_t *o, aimc_tiles_t *t, result_t *rp, const float *x,
                             const float *d, float *w, float *y, float *yref) {
  result_t r = *rp;
  op_t op = r.op;
  int64_t n = r.tiles;
  int rows = r.rows, cols = r.cols, b = r.batch;
  /* the updates move the weights: the reference reads what the tiles hold now */
  aimc_status_t s = aimc_tiles_get_weights(t, w);
  if (s != AIMC_OK) {
    snprintf(r.note, sizeof r.note, "aimc_tiles_get_weights: %s: %s", aimc_status_string(s),
             aimc_last_error());
    r.status = ROW_FAILED;
    add_result(&r);
    return;
  }
  job_t ours = {op, 0, t, n, rows, cols, b, x, d, w, y};
  job_t ref = {op, 1, t, n, rows, cols, b, x, d, w, yref};
  r.err = check_read(&ours, &ref, &s, r.note, sizeof r.note);
  int calls, timed;
  if (s == AIMC_OK) s = time_job(&ours, o->min_ms, &r.ms, &calls, &timed, r.note, sizeof r.note);
  if (s != AIMC_OK) {
    r.status = s == AIMC_ERR_OUT_OF_MEMORY ? ROW_SKIPPED : ROW_FAILED;
    add_result(&r);
    return;
  }
  r.calls = timed;
  char cnote[64] = "";
  double cms = 0;
  time_job(&ref, o->min_ms, &cms, &calls, &timed, cnote, sizeof cnote);
  r.cublas_ms = cms;
  if (!(r.err <= ERR_LIMIT)) {
    size_t len = strlen(r.note);
    snprintf(r.note + len, sizeof r.note - len, "%sWRONG? %s", len ? "; " : "",
             isnan(r.err) ? "output not finite (unwritten?)" : "rel. err vs cuBLAS > 0.2");
  }
  add_result(&r);
}

static void run_update(const options_t *o, aimc_tiles_t *t, int64_t n, int rows, int cols, int b,
                       const float *x, const float *d, aimc_tile_stats_t *stats) {
  result_t r;
  row_result(&r, OP_UPDATE, n, rows, cols, b);
  aimc_status_t s = aimc_tiles_reset_stats(t);
  int have_stats = s == AIMC_OK;
  if (!have_stats)
    fprintf(stderr, "bench_gpu: aimc_tiles_reset_stats: %s: %s\n", aimc_status_string(s),
            aimc_last_error());
  job_t j = {OP_UPDATE, 0, t, n, rows, cols, b, x, d, NULL, NULL};
  int calls, timed;
  s = time_job(&j, o->min_ms, &r.ms, &calls, &timed, r.note, sizeof r.note);
  if (s != AIMC_OK) {
    r.status = s == AIMC_ERR_OUT_OF_MEMORY ? ROW_SKIPPED : ROW_FAILED;
    add_result(&r);
    return;
  }
  r.calls = timed;
  s = have_stats ? aimc_tiles_get_stats(t, stats) : AIMC_ERR_UNSUPPORTED;
  if (s == AIMC_OK) {
    double p = 0;
    for (int64_t k = 0; k < n; ++k) p += (double)(stats[k].pulses_up + stats[k].pulses_down);
    r.pulses = p / ((double)n * rows * cols * b * calls);
    /* E[pulses] = lr E|x| E|d| / dw_min = 2.5 for these inputs (the CPU reference gives it) */
    if (!(r.pulses > 1.5 && r.pulses < 3.5)) {
      size_t len = strlen(r.note);
      snprintf(r.note + len, sizeof r.note - len, "%sWRONG? %.3g pulses per weight and sample, "
               "expected ~2.5", len ? "; " : "", r.pulses);
    }
  } else if (have_stats) {
    fprintf(stderr, "bench_gpu: aimc_tiles_get_stats: %s: %s\n", aimc_status_string(s),
            aimc_last_error());
  }
  add_result(&r);
}

static void run_tiles(const options_t *o, int64_t n, int rows, int cols, uint64_t seed) {
  /* the largest batch of the list that fits decides the buffers */
  size_t free_b, total_b;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  int maxb = 0;
  for (int k = 0; k < o->n_batches; ++k)
    if (o->batches[k] > maxb && row_memory(n, rows, cols, o->batches[k]) <= (double)free_b)
      maxb = o->batches[k];
  for (int k = 0; k < o->n_batches; ++k)
    if (o->batches[k] > maxb) {
      char why[128];
      snprintf(why, sizeof why, "%.2f GiB needed; %.2f GiB free",
               row_memory(n, rows, cols, o->batches[k]) / 1073741824.0, free_b / 1073741824.0);
      skip_rows(o, n, rows, cols, o->batches[k], ROW_SKIPPED, why);
    }
  if (maxb == 0) return;

  fprintf(stderr, "[%7.1f s] creating %lld tiles of %dx%d\n", now() - g.t_start, (long long)n,
          rows, cols);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n;
  td.rows = rows;
  td.cols = cols;
  td.seed = seed;
  AIMC_CHECK(aimc_device_desc_default(&td.config.device, AIMC_DEVICE_SOFT_BOUNDS));
  td.config.update.learning_rate = LEARNING_RATE;
  aimc_tiles_t *t = NULL;
  aimc_status_t s = aimc_tiles_create(g.ctx, &td, &t);
  if (s != AIMC_OK) {
    char why[160];
    snprintf(why, sizeof why, "aimc_tiles_create: %s: %s", aimc_status_string(s),
             aimc_last_error());
    for (int k = 0; k < o->n_batches; ++k)
      if (o->batches[k] <= maxb)
        skip_rows(o, n, rows, cols, o->batches[k],
                  s == AIMC_ERR_OUT_OF_MEMORY ? ROW_SKIPPED : ROW_FAILED, why);
    return;
  }
  size_t nw = (size_t)n * (size_t)rows * (size_t)cols;
  size_t nx = (size_t)n * (size_t)maxb * (size_t)cols, nd = (size_t)n * (size_t)maxb * (size_t)rows;
  size_t ny = nx > nd ? nx : nd;
  float *x = NULL, *d = NULL, *w = NULL, *y = NULL, *yref = NULL;
  if ((s = aimc_malloc(g.ctx, (void **)&x, nx * 4)) != AIMC_OK ||
      (s = aimc_malloc(g.ctx, (void **)&d, nd * 4)) != AIMC_OK ||
      (s = aimc_malloc(g.ctx, (void **)&w, nw * 4)) != AIMC_OK ||
      (s = aimc_malloc(g.ctx, (void **)&y, ny * 4)) != AIMC_OK ||
      (s = aimc_malloc(g.ctx, (void **)&yref, ny * 4)) != AIMC_OK) {
    if (s != AIMC_ERR_OUT_OF_MEMORY) fatal("aimc_malloc: %s: %s", aimc_status_string(s), aimc_last_error());
    char why[160];
    snprintf(why, sizeof why, "buffers: %s", aimc_last_error());
    for (int k = 0; k < o->n_batches; ++k)
      if (o->batches[k] <= maxb) skip_rows(o, n, rows, cols, o->batches[k], ROW_SKIPPED, why);
  } else {
    fill_random(x, nx, g.pool_in, seed * 3 + 1);
    fill_random(d, nd, g.pool_in, seed * 3 + 2);
    fill_random(w, nw, g.pool_w, seed * 3 + 3);
    s = aimc_tiles_program_weights(t, w);
    AIMC_CHECK(aimc_context_synchronize(g.ctx));
    aimc_tile_stats_t *stats = calloc((size_t)n, sizeof *stats);
    if (!stats) fatal("out of host memory for the statistics");
    if (s != AIMC_OK) {
      char why[160];
      snprintf(why, sizeof why, "aimc_tiles_program_weights: %s: %s", aimc_status_string(s),
               aimc_last_error());
      for (int k = 0; k < o->n_batches; ++k)
        if (o->batches[k] <= maxb)
          skip_rows(o, n, rows, cols, o->batches[k],
                    s == AIMC_ERR_OUT_OF_MEMORY ? ROW_SKIPPED : ROW_FAILED, why);
    }
    for (int k = 0; k < o->n_batches && s == AIMC_OK; ++k) {
      int b = o->batches[k];
      if (b > maxb) continue;
      for (int fast = 0; fast < 2; ++fast) { /* both read modes */
        if (o->ops[OP_FORWARD])
          run_read(o, t, OP_FORWARD, n, rows, cols, b, x, d, w, y, yref, fast);
        if (o->ops[OP_BACKWARD])
          run_read(o, t, OP_BACKWARD, n, rows, cols, b, x, d, w, y, yref, fast);
      }
      if (o->ops[OP_UPDATE]) run_update(o, t, n, rows, cols, b, x, d, stats);
    }
    free(stats);
  }
  AIMC_CHECK(aimc_context_synchronize(g.ctx));
  aimc_free(g.ctx, x);
  aimc_free(g.ctx, d);
  aimc_free(g.ctx, w);
  aimc_free(g.ctx, y);
  aimc_free(g.ctx, yref);
  aimc_tiles_destroy(t);
}

/* ---- Main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  options_t o;
  parse_options(argc, argv, &o);
  g.t_start = now();

  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CUDA;
  cd.cuda_device = o.device;
  aimc_status_t s = aimc_context_create(&g.ctx, &cd);
  if (s != AIMC_OK) {
    fprintf(stderr, "bench_gpu: no CUDA context: %s: %s\n", aimc_status_string(s),
            aimc_last_error());
    return 77;
  }
  void *stream = NULL;
  AIMC_CHECK(aimc_context_get_cuda_stream(g.ctx, &stream));
  g.stream = (cudaStream_t)stream;
  CUDA_CHECK(cudaSetDevice(o.device));
  struct cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, o.device));
  g.l2_bytes = (size_t)prop.l2CacheSize;
  int rt = 0, drv = 0, blas_ver = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&rt));
  CUDA_CHECK(cudaDriverGetVersion(&drv));
  CUBLAS_CHECK(cublasCreate(&g.blas));
  CUBLAS_CHECK(cublasSetStream(g.blas, g.stream));
  CUBLAS_CHECK(cublasSetMathMode(g.blas, CUBLAS_DEFAULT_MATH)); /* fp32, no TF32 */
  CUBLAS_CHECK(cublasGetVersion(g.blas, &blas_ver));
  CUDA_CHECK(cudaEventCreate(&g.ev0));
  CUDA_CHECK(cudaEventCreate(&g.ev1));
  if (o.csv) {
    g.csv = fopen(o.csv, "w");
    if (!g.csv) fatal("cannot write %s", o.csv);
    fprintf(g.csv, "op,tiles,rows,cols,batch,status,ms,bytes,gbps,of_copy,cublas_ms,"
                   "cublas_over_aimc,rel_err,pulses,calls,l2,note\n");
  }

  fprintf(stderr, "[%7.1f s] %s: copy reference (%zu MiB)\n", now() - g.t_start, prop.name,
          o.copy_mib);
  g.copy_gbps = copy_bandwidth(o.copy_mib << 20);
  if (g.csv) {
    fprintf(g.csv, "copy,0,0,0,0,ok,%.6f,%.0f,%.3f,1,0,0,0,-1,10,0,cudaMemcpyAsync D2D\n",
            2.0 * (double)(o.copy_mib << 20) / g.copy_gbps / 1e6,
            2.0 * (double)(o.copy_mib << 20), g.copy_gbps);
    fflush(g.csv);
  }
  g.pool_in = make_pool(1.0f);
  g.pool_w = make_pool(WEIGHT_RANGE);
  g.host_a = malloc(CHECK_CHUNKS * CHECK_CHUNK * sizeof(float));
  g.host_b = malloc(CHECK_CHUNKS * CHECK_CHUNK * sizeof(float));
  if (!g.host_a || !g.host_b) fatal("out of host memory for the checks");

  size_t free_b, total_b;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  printf("- GPU %d: %s, compute capability %d.%d, %d SMs, %.0f MB L2, %.1f GiB (%.1f GiB free at "
         "start); CUDA runtime %d.%d, driver API %d.%d, cuBLAS %d; aimc %s\n",
         o.device, prop.name, prop.major, prop.minor, prop.multiProcessorCount,
         prop.l2CacheSize / 1e6, total_b / 1073741824.0, free_b / 1073741824.0, rt / 1000,
         (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10, blas_ver, aimc_version_string());
  printf("- copy reference: cudaMemcpyAsync device-to-device of %zu MiB: **%.1f GB/s** (bytes read "
         "+ written, median of 10)\n",
         o.copy_mib, g.copy_gbps);
  printf("- tiles: SoftBounds, default d2d spreads (dw_min_dtod 0.3, w_max/w_min_dtod 0.3, "
         "up_down_dtod 0.01) and c2c noise (dw_min_std 0.3), dw_min 0.001; default IO (7-bit DAC, "
         "9-bit ADC, out_noise 0.06, out_bound 12, abs-max NM, iterative BM forward); default "
         "update (stochastic, BL 31 with update and BL management), lr %.3g; W programmed "
         "uniform in +-%.2g, x and d uniform in [-1, 1]\n",
         (double)LEARNING_RATE, (double)WEIGHT_RANGE);
  printf("- bytes that must move per call: update = 8 B/weight (read + write) + %d parameter "
         "planes x 4 B (SoftBounds: min/max bound, up/down step, up/down slope) = %d B/weight, + "
         "x and d; forward/backward = W once (4 B/weight) + input + output. MB = 1e6 B, GB/s = "
         "1e9 B/s; \"of copy\" = GB/s over the copy reference\n",
         UPDATE_PARAM_PLANES, 8 + 4 * UPDATE_PARAM_PLANES);
  printf("- times: CUDA events on the context's stream, median of 5 groups of repeats after a "
         "warm-up (>= %.0f ms timed per row; 3 single calls above 100 ms, 1 above 1 s); "
         "cuBLAS/aimc = cuBLAS time / aimc time; rel. err = ||y - y_cuBLAS|| / ||y_cuBLAS|| on "
         "up to %d M sampled outputs (IO noise alone: ~0.03-0.05); \"fits in L2\" = one call's "
         "data fit in the %.0f MB L2, so repeats may run from cache\n\n",
         o.min_ms, (int)(CHECK_CHUNKS * CHECK_CHUNK >> 20), prop.l2CacheSize / 1e6);
  fflush(stdout);
  g.header_printed = 1;

  uint64_t seed = o.seed;
  for (int sh = 0; sh < o.n_shapes; ++sh)
    for (int k = 0; k < o.n_tiles; ++k)
      run_tiles(&o, o.tiles[k], o.rows[sh], o.cols[sh], seed++);

  fprintf(stderr, "[%7.1f s] copy reference again\n", now() - g.t_start);
  g.copy_gbps_end = copy_bandwidth(o.copy_mib << 20);
  print_tables(g.failed_rows ? "**Some rows failed: see their notes.**" : NULL);
  fprintf(stderr, "[%7.1f s] done\n", now() - g.t_start);

  if (g.csv) fclose(g.csv);
  CUDA_CHECK(cudaFree(g.pool_in));
  CUDA_CHECK(cudaFree(g.pool_w));
  free(g.host_a);
  free(g.host_b);
  free(g.results);
  CUDA_CHECK(cudaEventDestroy(g.ev0));
  CUDA_CHECK(cudaEventDestroy(g.ev1));
  CUBLAS_CHECK(cublasDestroy(g.blas));
  aimc_context_destroy(g.ctx);
  return g.failed_rows ? 3 : 0;
}
