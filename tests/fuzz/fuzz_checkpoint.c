/* Fuzz target for the checkpoint loader (aimc_network_load), built two ways
 * from this one source:
 *   - with clang -fsanitize=fuzzer,address,undefined -DAIMC_LIBFUZZER: a
 *     libFuzzer binary (scripts/fuzz.sh);
 *   - without AIMC_LIBFUZZER: a replay driver whose main() runs the target
 *     on every file named on the command line (directories: every file in
 *     them, in name order). ctest replays the committed corpus with it.
 *
 * Payloads are CRC-32 protected, so random mutations would only ever reach
 * the checksum test. The target therefore first repairs the checksums: it
 * walks the sections (file header, then {tag, index, length, crc, pad} and
 * the payload, as host/checkpoint.c writes them) and, wherever a section's
 * length fits in the rest of the input, overwrites its crc with the CRC-32
 * of its payload. Mutations then reach the header, order, size and content
 * validation and, for inputs that load, a forward pass and a training step
 * on the loaded state, and aimc-train's validation of its own block (the
 * USER section: apps/train/resume_block.c) with the uses a resumed run
 * makes of an accepted block. The loader only takes a path: the input is written
 * to one file in a per-process temporary directory ($TMPDIR or /tmp),
 * reused for every run and removed at exit (libFuzzer may end the process
 * without running atexit handlers: scripts/fuzz.sh points TMPDIR into its
 * work directory and cleans it). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "aimc.h"
#include "host/checkpoint_format.h"
#include "resume_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* host/checkpoint.c's layout. */
enum {
  FILE_HEADER = sizeof(file_header_t),
  SECTION_HEADER = sizeof(section_header_t),
  LENGTH_AT = offsetof(section_header_t, length),
  CRC_AT = offsetof(section_header_t, crc)
};

/* Room for the user block: more than any input scripts/fuzz.sh makes
 * (-max_len=65536) and than the seed checkpoints' trainer blocks. */
#define USER_CAP ((size_t)1 << 18)
static uint8_t user[USER_CAP], untouched[USER_CAP];

static aimc_context_t *ctx;
static char dir[512], path[600];

static void cleanup(void) {
  if (path[0]) unlink(path);
  if (dir[0]) rmdir(dir);
}

static void setup(void) {
  if (ctx) return;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/aimc_fuzz_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    abort();
  }
  snprintf(path, sizeof path, "%s/input.ckpt", dir);
  atexit(cleanup);
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  cd.n_threads = 1;
  if (aimc_context_create(&ctx, &cd) != AIMC_OK) {
    fprintf(stderr, "context: %s\n", aimc_last_error());
    abort();
  }
}

/* Rewrites the crc of every section whose payload lies within the input. */
static void repair_crcs(uint8_t *b, size_t n) {
  size_t at = FILE_HEADER;
  while (at <= n && n - at >= SECTION_HEADER) {
    uint64_t len;
    memcpy(&len, b + at + LENGTH_AT, sizeof len);
    size_t body = at + SECTION_HEADER;
    if (len > n - body) break;
    uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), b + body, (size_t)len);
    memcpy(b + at + CRC_AT, &crc, sizeof crc);
    at = body + (size_t)len;
  }
}

/* Uses a loaded network: a forward pass and one training step. */
static void exercise(aimc_network_t *net) {
  aimc_network_desc_t d;
  int32_t K;
  if (aimc_network_desc_get(net, &d) != AIMC_OK || aimc_network_replicas(net, &K) != AIMC_OK)
    abort(); /* cannot fail on a loaded network */
  int32_t in = d.layers[0].in, classes = d.layers[d.n_layers - 1].out;
  float *x = malloc((size_t)in * sizeof *x), *y = malloc((size_t)K * (size_t)classes * sizeof *y);
  if (x && y) {
    for (int32_t j = 0; j < in; ++j) x[j] = (float)((j % 7) - 3) / 4.0f;
    int32_t label = classes - 1;
    aimc_network_forward(net, x, y, 1);
    aimc_network_train_batch(net, x, &label, 1, NULL);
  }
  free(x);
  free(y);
}

/* aimc-train's block of a loaded network: decoded and validated as --resume
 * does; an accepted block must be safe for everything the resumed run
 * computes from it (abort otherwise). 1 when the block was accepted. */
static int check_trainer_block(aimc_network_t *net, const uint8_t *block, size_t len) {
  aimc_network_desc_t d;
  int32_t K;
  if (aimc_network_desc_get(net, &d) != AIMC_OK || aimc_network_replicas(net, &K) != AIMC_OK)
    abort();
  model_options_t m;
  history_t h;
  char err[512];
  if (resume_block_decode(block, len, K, &d, 0, &m, &h, err, sizeof err)) return 0;
  int ok = m.seeds >= 1 && K % m.seeds == 0 && m.n_sweeps >= 0 && m.n_sweeps <= AIMC_MAX_SWEEPS &&
           m.n_sets >= 0 && m.n_sets <= TRAIN_MAX_SETS && m.n_sizes >= 2 &&
           m.n_sizes <= AIMC_MAX_LAYERS + 1 && m.train_subset >= 0 && m.test_subset >= 0 &&
           m.batch >= 1 && h.replicas == K && h.epochs >= 0 && h.epochs <= h.cap;
  for (int32_t e = 0; ok && e < h.epochs + 2; ++e) /* the schedule divides by step_every */
    ok = isfinite(options_learning_rate(&m, e, h.epochs + 2));
  for (int32_t e = 0; ok && e < h.epochs; ++e)
    for (int32_t k = 0; ok && k < K; ++k)
      ok = isfinite(h.rep[(size_t)e * (size_t)K + (size_t)k].loss);
  history_free(&h);
  if (!ok) {
    fprintf(stderr, "the trainer block was accepted but is not safe to resume from\n");
    abort();
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  uint8_t *b = malloc(size ? size : 1);
  if (!b) return 0;
  if (size) memcpy(b, data, size);
  repair_crcs(b, size);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(b, 1, size, f) != size) || fclose(f) != 0) {
    perror(path);
    abort();
  }
  free(b);
  aimc_network_t *net = NULL;
  memset(user, 0xA5, sizeof user);
  if (untouched[0] != 0xA5) memset(untouched, 0xA5, sizeof untouched);
  size_t user_len = 12345;
  aimc_status_t s = aimc_network_load(ctx, path, &net, user, sizeof user, &user_len);
  if (s == AIMC_OK) {
    if (user_len <= sizeof user) check_trainer_block(net, user, user_len);
    exercise(net);
    aimc_network_destroy(net);
  } else if (net != NULL || user_len != 12345 || memcmp(user, untouched, sizeof user) != 0 ||
             (s != AIMC_ERR_CORRUPT && s != AIMC_ERR_OUT_OF_MEMORY)) {
    /* a failed load changes none of its outputs and reports a corrupt file */
    fprintf(stderr, "load returned %s (%s) but changed its outputs or misreported\n",
            aimc_status_string(s), aimc_last_error());
    abort();
  }
  return 0;
}

#ifndef AIMC_LIBFUZZER
/* ---- Replay driver ------------------------------------------------------------- */

static int loaded, replayed, failures;

/* Runs the target on one file; with must_load, the file (unrepaired) must
 * also load as it is. */
static void replay_file(const char *p, int must_load) {
  FILE *f = fopen(p, "rb");
  struct stat sb;
  if (!f || fstat(fileno(f), &sb) != 0) {
    fprintf(stderr, "%s: cannot read\n", p);
    ++failures;
    if (f) fclose(f);
    return;
  }
  size_t n = (size_t)sb.st_size;
  uint8_t *b = malloc(n ? n : 1);
  if (!b || (n && fread(b, 1, n, f) != n)) {
    fprintf(stderr, "%s: cannot read\n", p);
    ++failures;
    free(b);
    fclose(f);
    return;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(b, n);
  ++replayed;
  aimc_network_t *net = NULL;
  size_t user_len = 0;
  if (aimc_network_load(ctx, p, &net, user, sizeof user, &user_len) == AIMC_OK) {
    ++loaded;
    if (must_load && (user_len > sizeof user || !check_trainer_block(net, user, user_len))) {
      fprintf(stderr, "%s: a seed checkpoint's aimc-train block is refused\n", p);
      ++failures;
    }
    aimc_network_destroy(net);
  } else if (must_load) {
    fprintf(stderr, "%s: a seed checkpoint does not load: %s\n", p, aimc_last_error());
    ++failures;
  }
  free(b);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *p, int must_load) {
  struct stat sb;
  if (stat(p, &sb) != 0) {
    fprintf(stderr, "%s: does not exist\n", p);
    ++failures;
    return;
  }
  if (!S_ISDIR(sb.st_mode)) {
    replay_file(p, must_load);
    return;
  }
  DIR *d = opendir(p);
  if (!d) {
    fprintf(stderr, "%s: cannot list\n", p);
    ++failures;
    return;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue; /* ., .., hidden files */
    if (count == cap) {
      cap = cap ? 2 * cap : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) abort();
      names = grown;
    }
    size_t len = strlen(p) + strlen(e->d_name) + 2;
    names[count] = malloc(len);
    if (!names[count]) abort();
    snprintf(names[count++], len, "%s/%s", p, e->d_name);
  }
  closedir(d);
  if (count) qsort(names, count, sizeof *names, by_name);
  for (size_t k = 0; k < count; ++k) {
    struct stat fs;
    if (stat(names[k], &fs) == 0 && S_ISREG(fs.st_mode)) replay_file(names[k], must_load);
    free(names[k]);
  }
  free(names);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s [--must-load] FILE_OR_DIR...\n"
                    "Runs the checkpoint fuzz target on each file; inputs after --must-load\n"
                    "must also load unchanged (seed checkpoints).\n", argv[0]);
    return 2;
  }
  setup();
  int must_load = 0;
  for (int k = 1; k < argc; ++k) {
    if (!strcmp(argv[k], "--must-load")) {
      must_load = 1;
      continue;
    }
    replay_path(argv[k], must_load);
  }
  printf("replayed %d inputs (%d load unchanged), %d failures\n", replayed, loaded, failures);
  aimc_context_destroy(ctx);
  ctx = NULL;
  return failures || replayed == 0 ? 1 : 0;
}
#endif
