/* aimc-gpucheck: the GPU bring-up in one program that needs nothing but aimc
 * and the CUDA runtime (no Criterion, no other shared library), for a bare
 * GPU machine lent for a few minutes.
 *
 * 1. Agreement: every test of the CUDA agreement suites (tests/test_cuda_core.c,
 *    test_cuda_algorithms.c, test_cuda_network.c: every CUDA operation,
 *    algorithm, device model and IO option on a CPU and a CUDA context with the
 *    same seeds, compared bit for bit), compiled here against a Criterion
 *    stand-in (shim/criterion/criterion.h) and run one after another in this
 *    process, so that compute-sanitizer sees one process.
 * 2. Timings: a short list of rows (update, forward, backward at a few shapes,
 *    reads also in the fast read mode) against a device-to-device copy measured
 *    in the same run, host clock
 *    around aimc_context_synchronize (the median of 3 groups of calls).
 * 3. One summary table on stdout (progress and failures on stderr).
 *
 * Exit status: 0 all tests passed, 1 a test failed (a mismatch or an error),
 * 2 bad options, 77 no CUDA device or no CUDA backend in this build.
 *
 * --small runs the suites as AIMC_CUDA_TEST_SANITIZER=1 does (small shapes,
 * no out-of-memory test, whose intended allocation failures the sanitizer
 * would report) and the tiny timing rows only: the mode for compute-sanitizer
 * and for the CUDA emulation (aimc-gpucheck-emu). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimc.h"
#include "gpucheck.h"

/* ---- The registry ------------------------------------------------------------- */

static gpucheck_test_t *g_tests;
static gpucheck_suite_t *g_suites;
static jmp_buf g_jump;
static char g_message[1024];

void gpucheck_register_test(gpucheck_test_t *t) {
  t->next = g_tests;
  g_tests = t;
}

void gpucheck_register_suite(gpucheck_suite_t *s) {
  s->next = g_suites;
  g_suites = s;
}

_Noreturn void gpucheck_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
  const char *base = strrchr(file, '/');
  int n = snprintf(g_message, sizeof g_message, "%s:%d: %s", base ? base + 1 : file, line, expr);
  if (n > 0 && (size_t)n < sizeof g_message && fmt && *fmt) {
    n += snprintf(g_message + n, sizeof g_message - (size_t)n, ": ");
    va_list ap;
    va_start(ap, fmt);
    if ((size_t)n < sizeof g_message) vsnprintf(g_message + n, sizeof g_message - (size_t)n, fmt, ap);
    va_end(ap);
  }
  longjmp(g_jump, GPUCHECK_FAILED);
}

_Noreturn void gpucheck_skip(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_message, sizeof g_message, fmt, ap);
  va_end(ap);
  longjmp(g_jump, GPUCHECK_SKIPPED);
}

/* ---- Options ------------------------------------------------------------------ */

typedef struct options {
  int small;        /* sanitizer-sized tests and rows */
  int tests, bench; /* which parts run */
  int list;
  const char *filter; /* comma-separated substrings of "file:suite/name" */
  double min_ms;      /* timed work per row */
} options_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: aimc-gpucheck [--small] [--no-tests | --no-bench] [--filter A,B] [--list]\n"
          "                     [--min-ms MS]\n"
          "  --small      small shapes, no out-of-memory test, tiny timing rows (for\n"
          "               compute-sanitizer and the CUDA emulation)\n"
          "  --no-tests   timings only        --no-bench  agreement tests only\n"
          "  --filter     run only the tests whose 'suite/name' or file contains one of\n"
          "               the comma-separated strings\n"
          "  --list       print the tests and exit\n"
          "  --min-ms     timed work per row and group of calls (default 100)\n"
          "exit: 0 passed, 1 a test failed, 2 bad options, 77 no CUDA device or backend\n");
}

static void parse_options(int argc, char **argv, options_t *o) {
  *o = (options_t){.tests = 1, .bench = 1, .min_ms = 100.0};
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--small")) o->small = 1;
    else if (!strcmp(a, "--no-tests")) o->tests = 0;
    else if (!strcmp(a, "--no-bench")) o->bench = 0;
    else if (!strcmp(a, "--list")) o->list = 1;
    else if (!strcmp(a, "--filter") && i + 1 < argc) o->filter = argv[++i];
    else if (!strcmp(a, "--min-ms") && i + 1 < argc) {
      char *end;
      o->min_ms = strtod(argv[++i], &end);
      if (*end || !(o->min_ms >= 1.0 && o->min_ms <= 10000.0)) {
        fprintf(stderr, "aimc-gpucheck: --min-ms %s: expected a number of ms in [1, 10000]\n",
                argv[i]);
        exit(2);
      }
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else {
      fprintf(stderr, "aimc-gpucheck: unknown option or missing value: %s\n", a);
      usage(stderr);
      exit(2);
    }
  }
  if (!o->tests && !o->bench) {
    fprintf(stderr, "aimc-gpucheck: --no-tests and --no-bench leave nothing to run\n");
    exit(2);
  }
}

/* ---- Clock and summary ------------------------------------------------------------ */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define MAX_ROWS 64
static struct {
  char item[64], result[24], detail[160];
} g_rows[MAX_ROWS];
static int g_n_rows;

static void summary_row(const char *item, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void summary_row(const char *item, const char *result, const char *fmt, ...) {
  if (g_n_rows == MAX_ROWS) return;
  snprintf(g_rows[g_n_rows].item, sizeof g_rows[0].item, "%s", item);
  snprintf(g_rows[g_n_rows].result, sizeof g_rows[0].result, "%s", result);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_rows[g_n_rows].detail, sizeof g_rows[0].detail, fmt, ap);
  va_end(ap);
  ++g_n_rows;
}

static void print_summary(const char *verdict) {
  printf("\n| check | result | detail |\n|:------|:-------|:-------|\n");
  for (int i = 0; i < g_n_rows; ++i)
    printf("| %s | %s | %s |\n", g_rows[i].item, g_rows[i].result, g_rows[i].detail);
  printf("\naimc-gpucheck: %s\n", verdict);
  fflush(stdout);
}

/* ---- The agreement tests ------------------------------------------------------------ */

static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

static int matches(const gpucheck_test_t *t, const char *filter) {
  if (!filter || !*filter) return 1;
  char full[256];
  snprintf(full, sizeof full, "%s:%s/%s", base_name(t->file), t->suite, t->name);
  const char *p = filter;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len > 0 && len < 128) {
      char part[128];
      memcpy(part, p, len);
      part[len] = 0;
      if (strstr(full, part)) return 1;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

static const gpucheck_suite_t *suite_of(const gpucheck_test_t *t) {
  for (const gpucheck_suite_t *s = g_suites; s; s = s->next)
    if (!strcmp(s->name, t->suite)) return s;
  return NULL;
}

/* Registration runs in constructors, newest first: put the tests back in
 * their files' order, files in link order. */
static void reverse_tests(void) {
  gpucheck_test_t *prev = NULL, *t = g_tests;
  while (t) {
    gpucheck_test_t *next = t->next;
    t->next = prev;
    prev = t;
    t = next;
  }
  g_tests = prev;
}

/* Runs one test with its suite's and its own init/fini; returns 0 passed,
 * GPUCHECK_FAILED or GPUCHECK_SKIPPED. A failed test leaks what it had
 * created (contexts, buffers): the run goes on, the verdict is already no. */
static int run_test(const gpucheck_test_t *t) {
  /* volatile statics: setjmp's caller reads them again after the longjmp */
  static const gpucheck_test_t *volatile current;
  static const gpucheck_suite_t *volatile suite;
  current = t;
  suite = suite_of(t);
  g_message[0] = 0;
  int rc = setjmp(g_jump);
  if (rc == 0) {
    if (suite && suite->init) suite->init();
    if (current->init) current->init();
    current->fn();
  }
  if (current->fini) current->fini();
  if (suite && suite->fini) suite->fini();
  return rc;
}

typedef struct file_tally {
  const char *file;
  int passed, failed, skipped;
  double seconds;
} file_tally_t;

static file_tally_t *tally_for(file_tally_t *tally, int *n, const char *file) {
  for (int i = 0; i < *n; ++i)
    if (!strcmp(tally[i].file, file)) return &tally[i];
  tally[*n] = (file_tally_t){.file = file};
  return &tally[(*n)++];
}

/* Returns the number of failed tests. */
static int run_tests(const options_t *o) {
  file_tally_t tally[8];
  int n_files = 0, failed = 0;
  char failures[160] = "";
  for (const gpucheck_test_t *t = g_tests; t; t = t->next) {
    if (!matches(t, o->filter)) continue;
    file_tally_t *f = tally_for(tally, &n_files, base_name(t->file));
    fprintf(stderr, "[ RUN  ] %s/%s\n", t->suite, t->name);
    double t0 = now();
    int rc = run_test(t);
    double dt = now() - t0;
    f->seconds += dt;
    if (rc == GPUCHECK_FAILED) {
      f->failed++;
      failed++;
      fprintf(stderr, "[FAILED] %s/%s (%.2f s): %s\n", t->suite, t->name, dt, g_message);
      size_t len = strlen(failures);
      if (len + 40 < sizeof failures)
        snprintf(failures + len, sizeof failures - len, "%s%s/%s", len ? ", " : "", t->suite,
                 t->name);
    } else if (rc == GPUCHECK_SKIPPED) {
      f->skipped++;
      fprintf(stderr, "[ SKIP ] %s/%s: %s\n", t->suite, t->name, g_message);
    } else {
      f->passed++;
      fprintf(stderr, "[  OK  ] %s/%s (%.2f s)\n", t->suite, t->name, dt);
    }
  }
  for (int i = 0; i < n_files; ++i)
    summary_row(tally[i].file, tally[i].failed ? "**FAILED**" : "ok",
                "%d passed, %d failed, %d skipped in %.1f s", tally[i].passed, tally[i].failed,
                tally[i].skipped, tally[i].seconds);
  if (n_files == 0) summary_row("tests", "**none**", "no test matches --filter %s", o->filter);
  if (failed) summary_row("failed tests", "**FAILED**", "%s", failures);
  return failed + (n_files == 0);
}

/* ---- Timings -------------------------------------------------------------------- */

typedef enum { OP_UPDATE, OP_FORWARD, OP_BACKWARD } op_t;
static const char *const op_names[] = {"update", "forward", "backward"};

typedef struct row {
  op_t op;
  int64_t n;
  int rows, cols, batch;
  int fast; /* reads in the context's fast read mode (cuBLAS products) */
} row_t;

/* On a GPU: batch 1 and 16 updates and reads at 1024 tiles of 256x256 (W 256 MiB,
 * beyond L2), the read at batch 128 (cuBLAS territory), and one 512x512 shape.
 * Small: shapes the emulation and compute-sanitizer get through in seconds. */
static const row_t gpu_rows[] = {
    {OP_UPDATE, 1024, 256, 256, 1, 0},    {OP_UPDATE, 1024, 256, 256, 16, 0},
    {OP_FORWARD, 1024, 256, 256, 1, 0},   {OP_FORWARD, 1024, 256, 256, 16, 0},
    {OP_FORWARD, 1024, 256, 256, 128, 0}, {OP_BACKWARD, 1024, 256, 256, 16, 0},
    {OP_FORWARD, 1024, 256, 256, 16, 1}, {OP_FORWARD, 1024, 256, 256, 128, 1},
    {OP_UPDATE, 64, 512, 512, 16, 0},     {OP_FORWARD, 64, 512, 512, 16, 0},
};
static const row_t small_rows[] = {{OP_UPDATE, 2, 32, 48, 2, 0},
                                   {OP_FORWARD, 2, 32, 48, 2, 0},
                                   {OP_BACKWARD, 2, 32, 48, 2, 0},
                                   {OP_FORWARD, 2, 32, 48, 2, 1}};

typedef struct bench {
  aimc_context_t *ctx;
  double min_ms;
  int small;
} bench_t;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define BENCH_CK(call)                                                                      \
  do {                                                                                      \
    aimc_status_t s_ = (call);                                                              \
    if (s_ != AIMC_OK) {                                                                    \
      snprintf(why, why_len, "%s: %s: %s", #call, aimc_status_string(s_), aimc_last_error()); \
      goto done;                                                                            \
    }                                                                                       \
  } while (0)

/* Device-to-device copy of `bytes`: GB/s counting bytes read plus written, the
 * median of 7 (0 and a reason in why on failure). */
static double copy_bandwidth(const bench_t *b, size_t bytes, char *why, size_t why_len) {
  void *src = NULL, *dst = NULL;
  double gbs = 0, s[7];
  BENCH_CK(aimc_malloc(b->ctx, &src, bytes));
  BENCH_CK(aimc_malloc(b->ctx, &dst, bytes));
  for (int r = 0; r < 9; ++r) {
    BENCH_CK(aimc_context_synchronize(b->ctx));
    double t0 = now();
    BENCH_CK(aimc_memcpy(b->ctx, dst, src, bytes, AIMC_COPY_CONTEXT_TO_CONTEXT));
    BENCH_CK(aimc_context_synchronize(b->ctx));
    if (r >= 2) s[r - 2] = now() - t0; /* two warm-up copies */
  }
  qsort(s, 7, sizeof s[0], cmp_double);
  gbs = 2.0 * (double)bytes / s[3] / 1e9;
done:
  aimc_free(b->ctx, src);
  aimc_free(b->ctx, dst);
  return gbs;
}

static aimc_status_t call_op(aimc_tiles_t *t, const row_t *r, const float *x, const float *d,
                             float *y) {
  switch (r->op) {
    case OP_UPDATE: return aimc_tiles_update(t, x, d, r->batch);
    case OP_FORWARD: return aimc_tiles_forward(t, x, y, r->batch);
    default: return aimc_tiles_backward(t, d, y, r->batch);
  }
}

/* Bytes an operation must move (bench/bench_gpu.c's counts): the update reads
 * and writes W and reads 6 SoftBounds parameter planes (32 B/weight), reads
 * read W once (4 B/weight); plus the vectors. */
static double op_bytes(const row_t *r) {
  double w = (double)r->n * r->rows * r->cols;
  double vec = 4.0 * (double)r->n * r->batch * (r->rows + r->cols);
  return (r->op == OP_UPDATE ? 32.0 : 4.0) * w + vec;
}

static void fill_uniform(float *v, size_t n, uint64_t seed, float scale) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = scale * (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  }
}

/* Uploads n uniform floats in +-scale into a new context buffer. */
static aimc_status_t upload_uniform(aimc_context_t *ctx, float **dst, size_t n, uint64_t seed,
                                    float scale) {
  float *h = malloc(n * sizeof *h);
  if (!h) return AIMC_ERR_OUT_OF_MEMORY;
  fill_uniform(h, n, seed, scale);
  aimc_status_t s = aimc_malloc(ctx, (void **)dst, n * sizeof *h);
  if (s == AIMC_OK) s = aimc_memcpy(ctx, *dst, h, n * sizeof *h, AIMC_COPY_HOST_TO_CONTEXT);
  free(h);
  return s;
}

/* ms per call: one warm-up call, one to size the groups, the median of 3 groups. */
static double time_row(const bench_t *b, aimc_tiles_t *t, const row_t *r, const float *x,
                       const float *d, float *y, int *calls, char *why, size_t why_len) {
  double ms = 0, g[3];
  *calls = 0;
  BENCH_CK(call_op(t, r, x, d, y));
  BENCH_CK(aimc_context_synchronize(b->ctx));
  double t0 = now();
  BENCH_CK(call_op(t, r, x, d, y));
  BENCH_CK(aimc_context_synchronize(b->ctx));
  double one = 1e3 * (now() - t0);
  long reps = one > 0 ? (long)ceil(b->min_ms / 3.0 / one) : 1000;
  if (reps < 1) reps = 1;
  if (reps > 5000) reps = 5000;
  for (int k = 0; k < 3; ++k) {
    t0 = now();
    for (long i = 0; i < reps; ++i) BENCH_CK(call_op(t, r, x, d, y));
    BENCH_CK(aimc_context_synchronize(b->ctx));
    g[k] = 1e3 * (now() - t0) / (double)reps;
  }
  qsort(g, 3, sizeof g[0], cmp_double);
  ms = g[1];
  *calls = (int)(3 * reps);
done:
  return ms;
}

/* One row: SoftBounds tiles with bench_gpu's settings (learning rate 0.01,
 * weights +-0.3, inputs +-1). Returns 0, or 1 when the row failed. */
static int bench_row(const bench_t *b, const row_t *r, double copy_gbs) {
  char item[64], why[256] = "";
  size_t why_len = sizeof why;
  snprintf(item, sizeof item, "%s%s %lldx%dx%d b%d", op_names[r->op], r->fast ? "-fast" : "",
           (long long)r->n, r->rows, r->cols, r->batch);
  aimc_tiles_t *t = NULL;
  float *x = NULL, *d = NULL, *w = NULL, *y = NULL;
  double ms = 0;
  int calls = 0;
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = r->n;
  td.rows = r->rows;
  td.cols = r->cols;
  td.seed = 7;
  BENCH_CK(aimc_device_desc_default(&td.config.device, AIMC_DEVICE_SOFT_BOUNDS));
  td.config.update.learning_rate = 0.01f;
  BENCH_CK(aimc_tiles_create(b->ctx, &td, &t));
  size_t nw = (size_t)r->n * (size_t)r->rows * (size_t)r->cols;
  size_t nx = (size_t)r->n * (size_t)r->batch * (size_t)r->cols;
  size_t nd = (size_t)r->n * (size_t)r->batch * (size_t)r->rows;
  BENCH_CK(upload_uniform(b->ctx, &w, nw, 3, 0.3f));
  BENCH_CK(aimc_tiles_program_weights(t, w));
  BENCH_CK(upload_uniform(b->ctx, &x, nx, 1, 1.0f));
  BENCH_CK(upload_uniform(b->ctx, &d, nd, 2, 1.0f));
  BENCH_CK(aimc_malloc(b->ctx, (void **)&y, (nx > nd ? nx : nd) * sizeof(float)));
  BENCH_CK(aimc_context_set_read_mode(b->ctx, r->fast ? AIMC_READ_FAST : AIMC_READ_EXACT));
  ms = time_row(b, t, r, x, d, y, &calls, why, why_len);
done:
  aimc_context_set_read_mode(b->ctx, AIMC_READ_EXACT);
  if (ms > 0 && !why[0]) {
    double gbs = op_bytes(r) / (ms * 1e-3) / 1e9;
    summary_row(item, "timed", "%.4g ms/call, %.1f GB/s = %.1f%% of copy (%d calls)", ms, gbs,
                copy_gbs > 0 ? 100.0 * gbs / copy_gbs : 0.0, calls);
  } else {
    summary_row(item, "**FAILED**", "%s", why[0] ? why : "no time measured");
  }
  aimc_context_synchronize(b->ctx);
  aimc_free(b->ctx, x);
  aimc_free(b->ctx, d);
  aimc_free(b->ctx, w);
  aimc_free(b->ctx, y);
  aimc_tiles_destroy(t);
  return why[0] != 0;
}

/* Returns the number of failed rows. */
static int run_bench(const options_t *o) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CUDA;
  cd.seed = 11;
  bench_t b = {.min_ms = o->min_ms, .small = o->small};
  aimc_status_t s = aimc_context_create(&b.ctx, &cd);
  if (s != AIMC_OK) {
    summary_row("timings", "**FAILED**", "aimc_context_create: %s: %s", aimc_status_string(s),
                aimc_last_error());
    return 1;
  }
  char why[256] = "";
  size_t copy_bytes = o->small ? (size_t)1 << 22 : (size_t)1 << 30;
  fprintf(stderr, "[ TIME ] device-to-device copy of %zu MiB\n", copy_bytes >> 20);
  double copy_gbs = copy_bandwidth(&b, copy_bytes, why, sizeof why);
  int failed = copy_gbs > 0 ? 0 : 1;
  if (copy_gbs > 0)
    summary_row("copy", "timed", "%.1f GB/s (bytes read + written, %zu MiB)", copy_gbs,
                copy_bytes >> 20);
  else
    summary_row("copy", "**FAILED**", "%s", why);
  const row_t *rows = o->small ? small_rows : gpu_rows;
  size_t n_rows = o->small ? sizeof small_rows / sizeof small_rows[0]
                           : sizeof gpu_rows / sizeof gpu_rows[0];
  for (size_t i = 0; i < n_rows; ++i) {
    fprintf(stderr, "[ TIME ] %s%s %lldx%dx%d batch %d\n", op_names[rows[i].op],
            rows[i].fast ? "-fast" : "",
            (long long)rows[i].n, rows[i].rows, rows[i].cols, rows[i].batch);
    failed += bench_row(&b, &rows[i], copy_gbs);
  }
  aimc_context_destroy(b.ctx);
  return failed;
}

/* ---- Main ------------------------------------------------------------------------- */

/* Whether a CUDA context can be created here (no fork: nothing else runs). */
static int cuda_usable(char *why, size_t len) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CUDA;
  aimc_context_t *ctx = NULL;
  aimc_status_t s = aimc_context_create(&ctx, &cd);
  if (s == AIMC_OK) {
    aimc_context_destroy(ctx);
    return 1;
  }
  snprintf(why, len, "aimc_cuda_available() = %d, aimc_context_create(CUDA) -> %s: %s",
           aimc_cuda_available(), aimc_status_string(s), aimc_last_error());
  return 0;
}

int main(int argc, char **argv) {
  options_t o;
  parse_options(argc, argv, &o);
  reverse_tests();
  if (o.list) {
    for (const gpucheck_test_t *t = g_tests; t; t = t->next)
      if (matches(t, o.filter)) printf("%s:%s/%s\n", base_name(t->file), t->suite, t->name);
    return 0;
  }
  /* the suites read these (tests/cuda_common.h): small shapes, no OOM test */
  if (o.small) setenv("AIMC_CUDA_TEST_SANITIZER", "1", 1);
  char why[512];
  if (!cuda_usable(why, sizeof why)) {
    printf("aimc-gpucheck: no usable CUDA device or backend, skipped (%s)\n", why);
    return 77;
  }
  printf("aimc-gpucheck: aimc %s, %s mode\n", aimc_version_string(), o.small ? "small" : "full");
  fflush(stdout);
  double t0 = now();
  int failed = 0;
  if (o.tests) failed += run_tests(&o);
  if (o.bench) failed += run_bench(&o);
  char verdict[128];
  snprintf(verdict, sizeof verdict, "%s in %.1f s", failed ? "FAILED" : "all passed", now() - t0);
  print_summary(verdict);
  return failed ? 1 : 0;
}
