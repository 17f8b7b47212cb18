/* Checkpoints: a saved and reloaded network continues bit for bit as if it
 * had never stopped; the user block round-trips; every damaged file
 * (missing, truncated, any byte flipped but the informational library
 * version, content edited behind valid checksums) is refused with a
 * message naming it and without touching the caller's outputs or leaking;
 * saves are atomic. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, pread, pwrite */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "scratch.h"
#include "host/checkpoint_format.h" /* the file layout, to edit files */

/* Leaks: Criterion ignores LeakSanitizer's report at a worker's exit, so
 * the sanitizer build asks for a leak check explicitly at the end of the
 * tests that load damaged files (no-op in other builds). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIMC_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(AIMC_TEST_ASAN)
#include <sanitizer/lsan_interface.h>
static void assert_no_leaks(void) {
  cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (report above)");
}
#else
static void assert_no_leaks(void) {}
#endif

/* ---- A scratch directory per test ------------------------------------------------ */

TestSuite(resume, .init = make_tmp_dir, .fini = remove_tmp_dir);
TestSuite(user_block, .init = make_tmp_dir, .fini = remove_tmp_dir);
TestSuite(reject, .init = make_tmp_dir, .fini = remove_tmp_dir);
TestSuite(save, .init = make_tmp_dir, .fini = remove_tmp_dir);

static const char *tmp_path(const char *name) {
  static char p[4][256];
  static int next;
  char *q = p[next++ % 4];
  snprintf(q, 256, "%s/%s", tmp_dir, name);
  return q;
}

typedef struct bytes {
  uint8_t *b;
  size_t n;
} bytes_t;

static bytes_t read_bytes(const char *path) {
  bytes_t r = {NULL, 0};
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  struct stat sb;
  cr_assert_eq(fstat(fileno(f), &sb), 0);
  r.n = (size_t)sb.st_size;
  r.b = malloc(r.n + 1);
  cr_assert_not_null(r.b);
  cr_assert_eq(fread(r.b, 1, r.n, f), r.n);
  fclose(f);
  return r;
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  cr_assert_eq(n ? fwrite(b, 1, n, f) : 0, n);
  cr_assert_eq(fclose(f), 0);
}

/* Names in dir containing ".tmp." (temporary files of saves). */
static int count_tmp_files(const char *dir) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  return n;
}

/* ---- Networks and data ------------------------------------------------------------- */

enum { D = 12, H = 10, C = 3, N_TRAIN = 48, N_TEST = 24, B = 8, BATCHES = N_TRAIN / B };

typedef struct data {
  float x[(N_TRAIN + N_TEST) * D];
  int32_t y[N_TRAIN + N_TEST];
} data_t;

/* Three Gaussian-ish blobs in D dimensions (fixed seed). */
static void make_data(data_t *dt) {
  test_rng_t r = {41};
  float centers[C][D];
  for (int c = 0; c < C; ++c) test_fill(&r, centers[c], D, -1, 1);
  for (int k = 0; k < N_TRAIN + N_TEST; ++k) {
    dt->y[k] = (int32_t)(test_next(&r) % C);
    for (int j = 0; j < D; ++j)
      dt->x[k * D + j] = centers[dt->y[k]][j] + test_uniform(&r, -0.4f, 0.4f);
  }
}

/* One epoch in the order aimc_permutation(77, epoch) gives; the per-replica
 * loss of every batch goes to losses [BATCHES][replicas] (may be NULL). */
static void train_epoch(aimc_network_t *n, const data_t *dt, uint64_t epoch, float *losses,
                        int32_t K) {
  int64_t perm[N_TRAIN];
  CK(aimc_permutation(77, epoch, N_TRAIN, perm));
  float x[B * D];
  int32_t y[B];
  float loss[64];
  cr_assert_leq(K, 64);
  for (int b = 0; b < BATCHES; ++b) {
    for (int i = 0; i < B; ++i) {
      int64_t k = perm[b * B + i];
      memcpy(x + i * D, dt->x + k * D, D * sizeof(float));
      y[i] = dt->y[k];
    }
    CK(aimc_network_train_batch(n, x, y, B, loss));
    if (losses) memcpy(losses + b * K, loss, (size_t)K * sizeof(float));
  }
}

typedef struct resume_case {
  const char *name;
  aimc_algorithm_t kind;
  int preset;                 /* 1: aimc_tile_config_preset(kind, device); 0: the default
                                 config with aimc_tile_config_algorithm(kind) */
  aimc_device_preset_t device;
  int32_t seeds;
  int sweep;                  /* sweep device.dw_min over {0.001, 0.002} */
  int schedule;               /* halve the learning rate before saving */
} resume_case_t;

/* 12-10-3 in tiles of at most 6: layer 0 is a 2 x 2 grid of 5 x 6 tiles,
 * layer 1 a 1 x 2 grid of 3 x 5 tiles (per replica). */
static aimc_network_desc_t resume_desc(const resume_case_t *rc) {
  aimc_tile_config_t cfg;
  if (rc->preset) {
    CK(aimc_tile_config_preset(&cfg, rc->kind, rc->device));
  } else {
    aimc_tile_config_default(&cfg);
    CK(aimc_tile_config_algorithm(&cfg, rc->kind));
  }
  const int32_t sizes[3] = {D, H, C};
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, 3, sizes, AIMC_ACT_SIGMOID, &cfg));
  d.max_tile_size = 6;
  d.seeds = rc->seeds;
  d.learning_rate = 0.2f;
  d.seed = rc->seeds > 1 ? AIMC_SEED_FROM_CONTEXT : 5; /* both kinds of network seed */
  if (rc->sweep) {
    d.n_sweeps = 1;
    snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "device.dw_min");
    d.sweeps[0].n_values = 2;
    d.sweeps[0].values[0] = 0.001, d.sweeps[0].values[1] = 0.002;
  }
  return d;
}

static void assert_same_floats(const float *a, const float *b, size_t n, const char *what,
                               const char *name) {
  for (size_t i = 0; i < n; ++i)
    cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s: %s[%zu] %.9g vs %.9g", name, what, i,
              (double)a[i], (double)b[i]);
}

/* Everything observable of two networks is bit-identical: weights, biases,
 * every device parameter of every array, algorithm buffers, choppers, tile
 * statistics, pulse counts, then evaluation counts and logits (which also
 * advance the read streams identically). */
static void assert_same_networks(aimc_network_t *a, aimc_network_t *b, const data_t *dt,
                                 const char *name) {
  int32_t K;
  CK(aimc_network_replicas(a, &K));
  int32_t Kb;
  CK(aimc_network_replicas(b, &Kb));
  cr_assert_eq(K, Kb, "%s: replicas", name);
  static float fa[1 << 14], fb[1 << 14];
  const int32_t outs[2] = {H, C}, ins[2] = {D, H};
  for (int32_t l = 0; l < 2; ++l) {
    size_t nw = (size_t)K * outs[l] * ins[l];
    CK(aimc_network_get_layer(a, l, fa));
    CK(aimc_network_get_layer(b, l, fb));
    assert_same_floats(fa, fb, nw, "weights", name);
    CK(aimc_network_get_bias(a, l, fa));
    CK(aimc_network_get_bias(b, l, fb));
    assert_same_floats(fa, fb, (size_t)K * outs[l], "bias", name);
    aimc_tiles_t *ta, *tb;
    CK(aimc_network_layer_tiles(a, l, &ta));
    CK(aimc_network_layer_tiles(b, l, &tb));
    int64_t T;
    int32_t rows, cols, arrays;
    CK(aimc_tiles_shape(ta, &T, &rows, &cols));
    CK(aimc_tiles_n_arrays(ta, &arrays));
    size_t per = (size_t)T * (size_t)rows * (size_t)cols;
    cr_assert_leq(per, sizeof fa / sizeof fa[0]);
    for (int32_t arr = 0; arr < arrays; ++arr)
      for (int p = 0; p < AIMC_PARAM_COUNT; ++p) {
        CK(aimc_tiles_get_device_param_ex(ta, arr, (aimc_device_param_t)p, fa));
        CK(aimc_tiles_get_device_param_ex(tb, arr, (aimc_device_param_t)p, fb));
        assert_same_floats(fa, fb, per, "device parameter", name);
      }
    for (int q = 0; q < AIMC_BUFFER_COUNT; ++q) {
      CK(aimc_tiles_get_buffer(ta, (aimc_buffer_t)q, fa));
      CK(aimc_tiles_get_buffer(tb, (aimc_buffer_t)q, fb));
      assert_same_floats(fa, fb, per, "algorithm buffer", name);
    }
    int8_t ca[2][4096], cb[2][4096];
    CK(aimc_tiles_get_choppers(ta, ca[0], ca[1]));
    CK(aimc_tiles_get_choppers(tb, cb[0], cb[1]));
    cr_assert_arr_eq(ca[0], cb[0], (size_t)T * (size_t)cols, "%s: input choppers", name);
    cr_assert_arr_eq(ca[1], cb[1], (size_t)T * (size_t)rows, "%s: output choppers", name);
    aimc_tile_stats_t sa[64], sb[64];
    cr_assert_leq(T, 64);
    CK(aimc_tiles_get_stats(ta, sa));
    CK(aimc_tiles_get_stats(tb, sb));
    cr_assert_arr_eq(sa, sb, (size_t)T * sizeof sa[0], "%s: layer %d statistics", name, l);
  }
  uint64_t pa[64], pb[64], wa[64], wb[64];
  CK(aimc_network_pulses(a, pa, wa));
  CK(aimc_network_pulses(b, pb, wb));
  cr_assert_arr_eq(pa, pb, (size_t)K * sizeof pa[0], "%s: pulses", name);
  cr_assert_arr_eq(wa, wb, (size_t)K * sizeof wa[0], "%s: weights counted", name);
  for (int32_t k = 0; k < K; ++k) cr_assert_gt(pa[k], 0u, "%s: replica %d never pulsed", name, k);
  int64_t ea[64], eb[64];
  CK(aimc_network_evaluate(a, dt->x + N_TRAIN * D, dt->y + N_TRAIN, N_TEST, 5, ea));
  CK(aimc_network_evaluate(b, dt->x + N_TRAIN * D, dt->y + N_TRAIN, N_TEST, 5, eb));
  cr_assert_arr_eq(ea, eb, (size_t)K * sizeof ea[0], "%s: evaluation", name);
  CK(aimc_network_forward(a, dt->x + N_TRAIN * D, fa, N_TEST));
  CK(aimc_network_forward(b, dt->x + N_TRAIN * D, fb, N_TEST));
  assert_same_floats(fa, fb, (size_t)K * N_TEST * C, "logits", name);
}

typedef struct schedule {
  int32_t epoch;
  float lr;
  char note[24];
} schedule_t;

/* Two epochs straight (network A) against one epoch, save, destroy the
 * network and its context, load into a fresh context, one more epoch
 * (network R): identical losses in every batch of the second epoch and
 * identical networks afterwards. */
static void check_resume(const resume_case_t *rc) {
  static data_t dt;
  make_data(&dt);
  aimc_network_desc_t d = resume_desc(rc);
  const char *path = tmp_path("resume.ckpt");
  const float lr2 = d.learning_rate * 0.5f;

  aimc_context_t *ca = test_context(1, 1);
  aimc_network_t *a;
  CK(aimc_network_create(ca, &d, &a));
  int32_t K;
  CK(aimc_network_replicas(a, &K));
  cr_assert_eq(K, rc->seeds * (rc->sweep ? 2 : 1));
  float la[BATCHES * 64], lr_[BATCHES * 64];
  train_epoch(a, &dt, 0, NULL, K);
  if (rc->schedule) CK(aimc_network_set_learning_rate(a, lr2));
  train_epoch(a, &dt, 1, la, K);

  aimc_context_t *cb = test_context(1, 1);
  aimc_network_t *b;
  CK(aimc_network_create(cb, &d, &b));
  train_epoch(b, &dt, 0, NULL, K);
  schedule_t sch = {1, rc->schedule ? lr2 : d.learning_rate, "halved after epoch 0"};
  if (rc->schedule) CK(aimc_network_set_learning_rate(b, lr2));
  CK(aimc_network_save(b, path, &sch, sizeof sch));
  aimc_network_destroy(b);
  aimc_context_destroy(cb);

  aimc_context_t *cr = test_context(1, 1);
  aimc_network_t *r = NULL;
  schedule_t back;
  memset(&back, 0, sizeof back);
  size_t back_len = 0;
  CK(aimc_network_load(cr, path, &r, &back, sizeof back, &back_len));
  cr_assert_not_null(r);
  cr_assert_eq(back_len, sizeof sch);
  cr_assert_arr_eq(&back, &sch, sizeof sch, "%s: user block", rc->name);
  aimc_network_desc_t dr;
  CK(aimc_network_desc_get(r, &dr));
  cr_assert_eq(dr.n_layers, d.n_layers);
  cr_assert_eq(dr.seed, d.seed);
  cr_assert_eq(dr.seeds, d.seeds);
  cr_assert_eq(dr.n_sweeps, d.n_sweeps);
  for (int32_t l = 0; l < d.n_layers; ++l)
    cr_assert_arr_eq(&dr.layers[l].config, &d.layers[l].config, sizeof d.layers[l].config);
  train_epoch(r, &dt, 1, lr_, K);
  for (int b2 = 0; b2 < BATCHES; ++b2)
    for (int32_t k = 0; k < K; ++k)
      cr_assert(memcmp(&la[b2 * K + k], &lr_[b2 * K + k], sizeof(float)) == 0,
                "%s: epoch 1 batch %d replica %d loss %.9g straight, %.9g resumed", rc->name, b2,
                k, (double)la[b2 * K + k], (double)lr_[b2 * K + k]);
  assert_same_networks(a, r, &dt, rc->name);
  /* the learning-rate state survived: one more epoch still agrees */
  train_epoch(a, &dt, 2, la, K);
  train_epoch(r, &dt, 2, lr_, K);
  cr_assert_arr_eq(la, lr_, (size_t)BATCHES * (size_t)K * sizeof(float), "%s: epoch 2", rc->name);
  aimc_network_destroy(a);
  aimc_network_destroy(r);
  aimc_context_destroy(ca);
  aimc_context_destroy(cr);
  assert_no_leaks();
}

Test(resume, analog_sgd_reram_sb) {
  resume_case_t rc = {"SGD", AIMC_ALGO_SGD, 1, AIMC_PRESET_RERAM_SB, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, analog_sgd_schedule) {
  resume_case_t rc = {"SGD + schedule", AIMC_ALGO_SGD, 1, AIMC_PRESET_RERAM_SB, 1, 0, 1};
  check_resume(&rc);
}
Test(resume, chopped_ttv2) {
  resume_case_t rc = {"c-TTv2", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, chopped_ttv2_schedule) {
  resume_case_t rc = {"c-TTv2 + schedule", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB, 1, 0,
                      1};
  check_resume(&rc);
}
Test(resume, agad) {
  resume_case_t rc = {"AGAD", AIMC_ALGO_AGAD, 1, AIMC_PRESET_RERAM_SB, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, mixed_precision) {
  resume_case_t rc = {"MP", AIMC_ALGO_MIXED_PRECISION, 1, AIMC_PRESET_RERAM_SB, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, ttv2) {
  resume_case_t rc = {"TTv2", AIMC_ALGO_TTV2, 1, AIMC_PRESET_RERAM_SB, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, tiki_taka) {
  resume_case_t rc = {"Tiki-Taka", AIMC_ALGO_TIKI_TAKA, 1, AIMC_PRESET_ECRAM, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, stellar) {
  resume_case_t rc = {"STELLAR", AIMC_ALGO_STELLAR, 0, AIMC_PRESET_IDEALIZED, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, panther) {
  resume_case_t rc = {"PANTHER", AIMC_ALGO_PANTHER, 0, AIMC_PRESET_IDEALIZED, 1, 0, 0};
  check_resume(&rc);
}
Test(resume, two_replicas) {
  resume_case_t rc = {"2 seeds", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB, 2, 0, 1};
  check_resume(&rc);
}
Test(resume, sweep) {
  resume_case_t rc = {"dw_min sweep", AIMC_ALGO_SGD, 1, AIMC_PRESET_RERAM_SB, 2, 1, 0};
  check_resume(&rc);
}

/* ---- User block ---------------------------------------------------------------------- */

/* A 4-3-2 network (one tile per layer) after a few chopped-TTv2 steps:
 * weights, device states and parameters of two arrays, a transfer buffer,
 * choppers, transfer pointers, statistics. */
static aimc_network_t *small_net(aimc_context_t *ctx, uint64_t seed) {
  aimc_tile_config_t cfg;
  CK(aimc_tile_config_preset(&cfg, AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_RERAM_SB));
  const int32_t sizes[3] = {4, 3, 2};
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, 3, sizes, AIMC_ACT_TANH, &cfg));
  d.seed = seed;
  d.learning_rate = 0.1f;
  aimc_network_t *n;
  CK(aimc_network_create(ctx, &d, &n));
  test_rng_t r = {seed};
  float x[5 * 4];
  int32_t y[5] = {0, 1, 1, 0, 1};
  for (int s = 0; s < 6; ++s) {
    test_fill(&r, x, 20, -1, 1);
    CK(aimc_network_train_batch(n, x, y, 5, NULL));
  }
  return n;
}

Test(user_block, round_trip_and_short_buffers) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_t *n = small_net(ctx, 3);
  enum { U = 1000 };
  static uint8_t user[U], back[U + 16];
  test_rng_t r = {9};
  for (int i = 0; i < U; ++i) user[i] = (uint8_t)test_next(&r);
  const char *p = tmp_path("user.ckpt");
  CK(aimc_network_save(n, p, user, U));
  aimc_network_t *m = NULL;
  size_t len = 0;
  /* a buffer large enough: exactly the block, nothing beyond it */
  memset(back, 0xEE, sizeof back);
  CK(aimc_network_load(ctx, p, &m, back, sizeof back, &len));
  cr_assert_eq(len, (size_t)U);
  cr_assert_arr_eq(back, user, U);
  for (int i = U; i < U + 16; ++i) cr_assert_eq(back[i], 0xEE, "byte %d past the block written", i);
  aimc_network_destroy(m);
  /* user_cap 10: ten bytes copied, the full length reported */
  memset(back, 0xEE, sizeof back);
  len = 0;
  CK(aimc_network_load(ctx, p, &m, back, 10, &len));
  cr_assert_eq(len, (size_t)U);
  cr_assert_arr_eq(back, user, 10);
  for (int i = 10; i < U + 16; ++i) cr_assert_eq(back[i], 0xEE, "byte %d past user_cap written", i);
  aimc_network_destroy(m);
  /* no buffer: only the length */
  CK(aimc_network_load(ctx, p, &m, NULL, 0, &len));
  cr_assert_eq(len, (size_t)U);
  aimc_network_destroy(m);
  CK(aimc_network_load(ctx, p, &m, NULL, 0, NULL));
  aimc_network_destroy(m);
  /* an empty block */
  CK(aimc_network_save(n, p, NULL, 0));
  len = 77;
  memset(back, 0xEE, sizeof back);
  CK(aimc_network_load(ctx, p, &m, back, sizeof back, &len));
  cr_assert_eq(len, 0u);
  cr_assert_eq(back[0], 0xEE);
  aimc_network_destroy(m);
  /* argument errors */
  cr_assert_eq(aimc_network_save(n, p, NULL, 5), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "user is NULL with user_len = 5"), "%s", aimc_last_error());
  cr_assert_eq(aimc_network_save(NULL, p, NULL, 0), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_save(n, NULL, NULL, 0), AIMC_ERR_INVALID_ARGUMENT);
  m = (aimc_network_t *)&r;
  cr_assert_eq(aimc_network_load(ctx, p, &m, NULL, 4, &len), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "user is NULL with user_cap = 4"), "%s", aimc_last_error());
  cr_assert_eq(aimc_network_load(NULL, p, &m, NULL, 0, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_load(ctx, NULL, &m, NULL, 0, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_load(ctx, p, NULL, NULL, 0, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(m, (aimc_network_t *)&r, "failed loads leave the output alone");
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
  assert_no_leaks();
}

/* ---- Rejection --------------------------------------------------------------------- */

/* Sentinels the loader must leave alone when it fails. */
typedef struct outputs {
  aimc_network_t *net;
  uint8_t user[64];
  size_t user_len;
} outputs_t;

static void reset_outputs(outputs_t *o) {
  o->net = (aimc_network_t *)o; /* any recognisable non-NULL value */
  memset(o->user, 0x5A, sizeof o->user);
  o->user_len = 0xDEAD;
}

static void assert_outputs_untouched(const outputs_t *o, const char *what) {
  cr_assert_eq(o->net, (const aimc_network_t *)o, "%s: the output network was written", what);
  for (size_t i = 0; i < sizeof o->user; ++i)
    cr_assert_eq(o->user[i], 0x5A, "%s: the user buffer was written", what);
  cr_assert_eq(o->user_len, 0xDEAD, "%s: user_len was written", what);
}

/* Loads path expecting `status`, a message naming the path and containing
 * `expect` (if not NULL), and untouched outputs. */
static void expect_refused(aimc_context_t *ctx, const char *path, aimc_status_t status,
                           const char *expect, const char *what) {
  outputs_t o;
  reset_outputs(&o);
  aimc_status_t s = aimc_network_load(ctx, path, &o.net, o.user, sizeof o.user, &o.user_len);
  if (s == AIMC_OK) aimc_network_destroy(o.net);
  cr_assert_eq(s, status, "%s: got %s (%s), expected %s", what, aimc_status_string(s),
               aimc_last_error(), aimc_status_string(status));
  const char *msg = aimc_last_error();
  cr_assert(strstr(msg, path) != NULL, "%s: the message does not name the file: %s", what, msg);
  cr_assert_str_eq(aimc_context_last_error(ctx), msg, "%s: context and thread messages", what);
  if (expect)
    cr_assert(strstr(msg, expect) != NULL, "%s: message lacks \"%s\": %s", what, expect, msg);
  assert_outputs_untouched(&o, what);
}

typedef struct section_ref {
  size_t at; /* offset of the section header */
  section_header_t h;
} section_ref_t;

/* Walks the sections of a valid file; returns their number. */
static int walk(const bytes_t *f, section_ref_t *s, int max) {
  cr_assert_geq(f->n, sizeof(file_header_t));
  size_t at = sizeof(file_header_t);
  int k = 0;
  while (at < f->n) {
    cr_assert_lt(k, max);
    cr_assert_leq(at + sizeof(section_header_t), f->n);
    s[k].at = at;
    memcpy(&s[k].h, f->b + at, sizeof s[k].h);
    at += sizeof(section_header_t) + s[k].h.length;
    cr_assert_leq(at, f->n);
    ++k;
  }
  cr_assert_eq(s[k - 1].h.tag, (uint32_t)TAG_END);
  return k;
}

static section_ref_t *find_section(section_ref_t *s, int n, uint32_t tag, uint32_t index) {
  for (int k = 0; k < n; ++k)
    if (s[k].h.tag == tag && s[k].h.index == index) return &s[k];
  cr_assert_fail("no section %08x index %u", tag, index);
  return NULL;
}

static uint8_t *payload(const bytes_t *f, const section_ref_t *s) {
  return f->b + s->at + sizeof(section_header_t);
}

/* Recomputes the checksum of an edited section in place. */
static void fix_crc(bytes_t *f, const section_ref_t *s) {
  uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), payload(f, s), (size_t)s->h.length);
  memcpy(f->b + s->at + offsetof(section_header_t, crc), &crc, sizeof crc);
}

typedef struct fixture {
  aimc_context_t *ctx;
  aimc_network_t *net;
  const char *path;
  bytes_t file;
  section_ref_t sec[64];
  int n_sec;
} fixture_t;

static fixture_t make_fixture(void) {
  fixture_t fx;
  fx.ctx = test_context(1, 1);
  fx.net = small_net(fx.ctx, 11);
  fx.path = tmp_path("good.ckpt");
  const char user[] = "epoch 3 of 10";
  CK(aimc_network_save(fx.net, fx.path, user, sizeof user));
  fx.file = read_bytes(fx.path);
  fx.n_sec = walk(&fx.file, fx.sec, 64);
  file_header_t fh;
  memcpy(&fh, fx.file.b, sizeof fh);
  cr_assert_eq(fh.counters_size, sizeof(aimc_counters_t), "the mirrored layout is stale");
  cr_assert_eq(fh.algo_state_size, sizeof(aimc_algo_state_t));
  cr_assert_eq(fh.n_sections, (uint32_t)fx.n_sec);
  return fx;
}

static void free_fixture(fixture_t *fx) {
  free(fx->file.b);
  aimc_network_destroy(fx->net);
  aimc_context_destroy(fx->ctx);
  assert_no_leaks();
}

Test(reject, missing_empty_directory) {
  aimc_context_t *ctx = test_context(1, 1);
  expect_refused(ctx, tmp_path("missing.ckpt"), AIMC_ERR_IO, "cannot open (No such file",
                 "missing file");
  write_bytes(tmp_path("empty.ckpt"), "", 0);
  expect_refused(ctx, tmp_path("empty.ckpt"), AIMC_ERR_CORRUPT,
                 "truncated: shorter than the checkpoint header", "empty file");
  expect_refused(ctx, tmp_dir, AIMC_ERR_IO, "not a regular file", "directory");
  aimc_context_destroy(ctx);
  assert_no_leaks();
}

/* Cut at every sixteenth of the file, one byte short of the header, at the
 * header, inside and just before the end section, one byte short. */
Test(reject, truncated) {
  fixture_t fx = make_fixture();
  size_t cuts[24];
  int n = 0;
  for (int k = 0; k < 16; ++k) cuts[n++] = fx.file.n * (size_t)k / 16;
  cuts[n++] = sizeof(file_header_t) - 1;
  cuts[n++] = sizeof(file_header_t);
  cuts[n++] = sizeof(file_header_t) + sizeof(section_header_t) - 1;
  cuts[n++] = fx.sec[fx.n_sec - 1].at; /* END missing */
  cuts[n++] = fx.sec[fx.n_sec - 1].at + 5;
  cuts[n++] = fx.file.n - 1;
  for (int k = 0; k < n; ++k) {
    write_bytes(tmp_path("cut.ckpt"), fx.file.b, cuts[k]);
    char what[64];
    snprintf(what, sizeof what, "cut at %zu of %zu", cuts[k], fx.file.n);
    expect_refused(fx.ctx, tmp_path("cut.ckpt"), AIMC_ERR_CORRUPT, "truncated", what);
  }
  free_fixture(&fx);
}

/* Every byte of the file, flipped (xor 0xff, then xor 0x01) one at a time:
 * the checksums cover every payload and the header (CRC-32 detects every
 * error within 32 consecutive bits), the loader checks the header's magic,
 * format, checksum, library version, layout sizes and section count, and
 * every section header's tag, index, length, checksum and zero padding:
 * no flip loads. */
Test(reject, every_byte_flipped, .timeout = 300) {
  fixture_t fx = make_fixture();
  write_bytes(tmp_path("flip.ckpt"), fx.file.b, fx.file.n);
  int fd = open(tmp_path("flip.ckpt"), O_RDWR);
  cr_assert_geq(fd, 0);
  const uint8_t masks[2] = {0xff, 0x01};
  for (size_t at = 0; at < fx.file.n; ++at)
    for (int m = 0; m < 2; ++m) {
      uint8_t v = fx.file.b[at] ^ masks[m];
      cr_assert_eq(pwrite(fd, &v, 1, (off_t)at), 1);
      outputs_t o;
      reset_outputs(&o);
      aimc_status_t s = aimc_network_load(fx.ctx, tmp_path("flip.ckpt"), &o.net, o.user,
                                          sizeof o.user, &o.user_len);
      if (s == AIMC_OK) aimc_network_destroy(o.net);
      cr_assert_eq(s, AIMC_ERR_CORRUPT, "byte %zu of %zu (xor %02x) accepted or misreported: %s",
                   at, fx.file.n, masks[m], s == AIMC_OK ? "loaded" : aimc_last_error());
      cr_assert(strstr(aimc_last_error(), "flip.ckpt"), "%s", aimc_last_error());
      assert_outputs_untouched(&o, "flipped byte");
      cr_assert_eq(pwrite(fd, &fx.file.b[at], 1, (off_t)at), 1);
    }
  close(fd);
  free_fixture(&fx);
}

/* Recomputes the header's CRC after an edit of its fields. */
static void fix_header_crc(bytes_t *e) {
  file_header_t fh;
  memcpy(&fh, e->b, sizeof fh);
  fh.header_crc = aimc_ckpt_header_crc(&fh);
  memcpy(e->b, &fh, sizeof fh);
}

Test(reject, header_and_trailing_bytes) {
  fixture_t fx = make_fixture();
  bytes_t e = {malloc(fx.file.n + sizeof(section_header_t)), fx.file.n};
  const char *p = tmp_path("edit.ckpt");
  memcpy(e.b, fx.file.b, e.n);
  memcpy(e.b, "AIMCCKPX", 8);
  write_bytes(p, e.b, e.n);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "not an aimc checkpoint (bad magic)", "magic");
  memcpy(e.b, fx.file.b, e.n);
  e.b[offsetof(file_header_t, format)] ^= 2;
  write_bytes(p, e.b, e.n);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "format version", "format");
  memcpy(e.b, fx.file.b, e.n);
  e.b[offsetof(file_header_t, config_size)] ^= 4;
  write_bytes(p, e.b, e.n);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "header checksum", "config size, stale CRC");
  fix_header_crc(&e);
  write_bytes(p, e.b, e.n);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "different data layout", "config size");
  memcpy(e.b, fx.file.b, e.n);
  e.b[offsetof(file_header_t, n_sections)] += 1;
  fix_header_crc(&e);
  write_bytes(p, e.b, e.n);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "section count does not match", "section count");
  /* library versions: newer than this library, and before 0.1.0 */
  uint32_t versions[2] = {AIMC_VERSION + 1, 99};
  for (int k = 0; k < 2; ++k) {
    memcpy(e.b, fx.file.b, e.n);
    memcpy(e.b + offsetof(file_header_t, library_version), &versions[k], 4);
    fix_header_crc(&e);
    write_bytes(p, e.b, e.n);
    expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "written by library version", "library version");
  }
  /* bytes after END: one, and a whole valid section */
  memcpy(e.b, fx.file.b, e.n);
  e.b[e.n] = 0;
  write_bytes(p, e.b, e.n + 1);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "has data after the end section", "1 trailing byte");
  section_header_t end = {TAG_END, 0, 0, 0, 0};
  memcpy(e.b + e.n, &end, sizeof end);
  write_bytes(p, e.b, e.n + sizeof end);
  expect_refused(fx.ctx, p, AIMC_ERR_CORRUPT, "has data after the end section", "second END");
  free(e.b);
  free_fixture(&fx);
}

typedef void (*edit_fn)(bytes_t *f, section_ref_t *s, int n);

/* Applies an edit to a copy of the fixture's file (the edit recomputes the
 * checksums it must) and expects a refusal mentioning `expect`. */
static void expect_edit_refused(fixture_t *fx, edit_fn edit, const char *expect,
                                const char *what) {
  bytes_t e = {malloc(fx->file.n), fx->file.n};
  cr_assert_not_null(e.b);
  memcpy(e.b, fx->file.b, e.n);
  section_ref_t s[64];
  int n = walk(&e, s, 64);
  edit(&e, s, n);
  const char *p = tmp_path("edit.ckpt");
  write_bytes(p, e.b, e.n);
  expect_refused(fx->ctx, p, AIMC_ERR_CORRUPT, expect, what);
  free(e.b);
}

/* The last blobs of a chopped-TTv2 layer are, in order: the transfer
 * buffer H, input choppers, output choppers, algorithm states, statistics
 * (aimc_tiles_state_blobs); from_end counts back from the statistics. */
static section_ref_t *layer_blob_from_end(section_ref_t *s, int n, uint32_t layer, int from_end) {
  section_ref_t *bias = find_section(s, n, TAG_BIAS, layer);
  section_ref_t *b = bias - 1 - from_end;
  cr_assert_eq(b->h.tag, (uint32_t)TAG_BLOB);
  cr_assert_eq(b->h.index >> 16, layer);
  return b;
}

static void edit_chopper_zero(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *c_in = layer_blob_from_end(s, n, 0, 3);
  cr_assert_eq(c_in->h.length, 4u, "layer 0 has one 3 x 4 tile: 4 input choppers");
  for (int i = 0; i < 4; ++i) {
    int8_t c = (int8_t)payload(f, c_in)[i];
    cr_assert(c == 1 || c == -1, "not a chopper blob");
  }
  payload(f, c_in)[2] = 0;
  fix_crc(f, c_in);
}

static void edit_chopper_two(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *c_out = layer_blob_from_end(s, n, 1, 2);
  cr_assert_eq(c_out->h.length, 2u, "layer 1 has one 2 x 3 tile: 2 output choppers");
  payload(f, c_out)[1] = 2;
  fix_crc(f, c_out);
}

static void set_pointer(bytes_t *f, section_ref_t *s, int n, int32_t v) {
  section_ref_t *algo = layer_blob_from_end(s, n, 0, 1);
  cr_assert_eq(algo->h.length, sizeof(aimc_algo_state_t), "one tile's algorithm state");
  memcpy(payload(f, algo) + offsetof(aimc_algo_state_t, next), &v, sizeof v);
  fix_crc(f, algo);
}
static void edit_pointer_high(bytes_t *f, section_ref_t *s, int n) { set_pointer(f, s, n, 4); }
static void edit_pointer_negative(bytes_t *f, section_ref_t *s, int n) { set_pointer(f, s, n, -1); }

static void edit_scale_nan(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *algo = layer_blob_from_end(s, n, 1, 1);
  float v = NAN;
  memcpy(payload(f, algo) + offsetof(aimc_algo_state_t, md), &v, sizeof v);
  fix_crc(f, algo);
}

static void set_float(bytes_t *f, section_ref_t *sec, size_t i, float v) {
  cr_assert_leq((i + 1) * sizeof v, sec->h.length);
  memcpy(payload(f, sec) + i * sizeof v, &v, sizeof v);
  fix_crc(f, sec);
}

static void edit_weight_nan(bytes_t *f, section_ref_t *s, int n) {
  set_float(f, find_section(s, n, TAG_BLOB, 0u << 16), 5, NAN); /* array 0's weights */
}
static void edit_device_param_nan(bytes_t *f, section_ref_t *s, int n) {
  /* layer 1's third blob: a device state or parameter plane */
  set_float(f, find_section(s, n, TAG_BLOB, (1u << 16) | 2u), 0, -NAN);
}
static void edit_buffer_inf(bytes_t *f, section_ref_t *s, int n) {
  /* the transfer buffer H: the blob before the choppers */
  section_ref_t *h = layer_blob_from_end(s, n, 0, 4);
  cr_assert_eq(h->h.length, 3 * 4 * sizeof(float));
  set_float(f, h, 7, INFINITY);
}
static void edit_bias_nan(bytes_t *f, section_ref_t *s, int n) {
  set_float(f, find_section(s, n, TAG_BIAS, 1), 1, NAN);
}

/* Payloads sit at any offset of the file buffer: structures are copied
 * out, edited and copied back (no misaligned access). */
#define EDIT(type, at, stmt)                                                             \
  do {                                                                                   \
    type v_;                                                                             \
    memcpy(&v_, (at), sizeof v_);                                                        \
    stmt;                                                                                \
    memcpy((at), &v_, sizeof v_);                                                        \
  } while (0)

/* Tile k's configuration in the TILS section of a layer. */
static uint8_t *tile_config_at(bytes_t *f, section_ref_t *t, int64_t k) {
  return payload(f, t) + sizeof(tiles_record_t) + (size_t)k * sizeof(aimc_tile_config_t);
}

static void edit_tile_rate_nan(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 1);
  EDIT(aimc_tile_config_t, tile_config_at(f, t, 0), v_.update.learning_rate = NAN);
  fix_crc(f, t);
}
static void edit_tile_rate_negative(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 0);
  EDIT(aimc_tile_config_t, tile_config_at(f, t, 0), v_.update.learning_rate = -0.5f);
  fix_crc(f, t);
}
static void edit_tile_config(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 0);
  EDIT(aimc_tile_config_t, tile_config_at(f, t, 0), v_.device.dw_min *= 2.0f);
  fix_crc(f, t);
}
static void edit_tile_key(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 1);
  payload(f, t)[t->h.length - 1] ^= 0x10; /* the last tile's key */
  fix_crc(f, t);
}
static void edit_tile_shape(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 0);
  EDIT(tiles_record_t, payload(f, t), v_.n_blobs += 1);
  fix_crc(f, t);
}

/* Edits the network record with stmt (on v_, a net_record_t). */
#define EDIT_NET(f, s, n, stmt)                                                          \
  do {                                                                                   \
    section_ref_t *sec_ = find_section(s, n, TAG_NETW, 0);                               \
    cr_assert_eq(sec_->h.length, sizeof(net_record_t));                                  \
    static net_record_t v_;                                                              \
    memcpy(&v_, payload(f, sec_), sizeof v_);                                            \
    stmt;                                                                                \
    memcpy(payload(f, sec_), &v_, sizeof v_);                                            \
    fix_crc(f, sec_);                                                                    \
  } while (0)

static void edit_net_layers(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.desc.n_layers = 0);
}
static void edit_net_lr(bytes_t *f, section_ref_t *s, int n) { EDIT_NET(f, s, n, v_.lr = -1.0f); }
/* the non-finite policy (issue 11): a layer's own rate NaN, a weight +inf */
static void edit_net_layer_lr_nan(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.desc.layers[1].config.update.learning_rate = NAN);
}
static void edit_weight_inf(bytes_t *f, section_ref_t *s, int n) {
  set_float(f, find_section(s, n, TAG_BLOB, 0u << 16), 2, INFINITY);
}
static void edit_net_override(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.lr_override = 2);
}
static void edit_net_huge(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.desc.layers[0].in = 1 << 22); /* 48 MiB of weights */
}
static void edit_net_other_shape(bytes_t *f, section_ref_t *s, int n) {
  /* valid, but not this file's */
  EDIT_NET(f, s, n, (v_.desc.layers[0].out = 5, v_.desc.layers[1].in = 5));
}
static void edit_net_seed(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.seed ^= 1); /* other device draws: other tile keys */
}
static void edit_net_bad_config(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n, v_.desc.layers[1].config.device.dw_min = -1.0f);
}
static void edit_net_sweep_name(bytes_t *f, section_ref_t *s, int n) {
  EDIT_NET(f, s, n,
           (v_.desc.n_sweeps = 1, v_.desc.sweeps[0].n_values = 1, v_.desc.sweeps[0].values[0] = 0.5,
            memset(v_.desc.sweeps[0].field, 'x', AIMC_FIELD_LEN))); /* unterminated */
}
static void edit_user_length(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *u = find_section(s, n, TAG_USER, 0);
  uint64_t len = u->h.length + 1000; /* beyond the file */
  memcpy(f->b + u->at + offsetof(section_header_t, length), &len, sizeof len);
}
static void edit_swap_order(bytes_t *f, section_ref_t *s, int n) {
  section_ref_t *t = find_section(s, n, TAG_TILS, 0);
  uint32_t idx = 1;
  memcpy(f->b + t->at + offsetof(section_header_t, index), &idx, sizeof idx);
}

/* Files whose checksums are all valid but whose content is not: refused by
 * validation, each with its reason. */
Test(reject, content_behind_valid_checksums) {
  fixture_t fx = make_fixture();
  static const struct {
    edit_fn edit;
    const char *expect, *what;
  } cases[] = {
      {edit_chopper_zero, "a chopper is not +1 or -1", "chopper 0"},
      {edit_chopper_two, "a chopper is not +1 or -1", "chopper 2"},
      {edit_pointer_high, "line pointer out of range", "line pointer 4 of 4 columns"},
      {edit_pointer_negative, "line pointer out of range", "line pointer -1"},
      {edit_scale_nan, "NaN scale", "auto-scale maximum NaN"},
      {edit_weight_nan, "a device value is not finite", "weight NaN"},
      {edit_device_param_nan, "a device value is not finite", "device parameter NaN"},
      {edit_buffer_inf, "a digital buffer value is not finite", "transfer buffer inf"},
      {edit_bias_nan, "a digital buffer value is not finite", "bias NaN"},
      {edit_tile_rate_nan, "learning rate", "tile learning rate NaN"},
      {edit_tile_rate_negative, "learning rate", "tile learning rate -0.5"},
      {edit_tile_config, "layer tiles do not match the saved network", "tile config"},
      {edit_tile_key, "layer tiles do not match the saved network", "tile key"},
      {edit_tile_shape, "layer tiles do not match the saved network", "blob count"},
      {edit_net_layers, "invalid network description", "0 layers"},
      {edit_net_lr, "invalid learning-rate state", "lr -1"},
      {edit_net_override, "invalid learning-rate state", "lr_override 2"},
      {edit_net_layer_lr_nan, "learning_rate = nan", "layer learning rate NaN"},
      {edit_weight_inf, "a device value is not finite", "weight +inf"},
      {edit_net_huge, "does not fit in the file", "huge layer"},
      {edit_net_other_shape, "do not match the saved network", "other layer sizes"},
      {edit_net_seed, "layer tiles do not match the saved network", "network seed"},
      {edit_net_bad_config, "device.dw_min", "invalid config"},
      {edit_net_sweep_name, "invalid network description", "unterminated sweep field"},
      {edit_user_length, "truncated", "user block longer than the file"},
      {edit_swap_order, "sections out of order or mismatched", "section index"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k)
    expect_edit_refused(&fx, cases[k].edit, cases[k].expect, cases[k].what);
  free_fixture(&fx);
}

/* ---- Atomic saves ------------------------------------------------------------------ */

Test(save, missing_directory) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_t *n = small_net(ctx, 1);
  const char *p = tmp_path("no-such-dir/x.ckpt");
  cr_assert_eq(aimc_network_save(n, p, NULL, 0), AIMC_ERR_IO);
  cr_assert(strstr(aimc_last_error(), p), "%s", aimc_last_error());
  cr_assert(strstr(aimc_last_error(), "cannot create a temporary file beside it"), "%s",
            aimc_last_error());
  cr_assert_eq(count_tmp_files(tmp_dir), 0);
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
  assert_no_leaks();
}

/* A save that fails half-way (the file size limit stops its writes, as a
 * full disk would) leaves the previous checkpoint byte for byte and no
 * temporary file; a successful save replaces the file. */
Test(save, failure_keeps_the_old_file_and_success_replaces_it) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_t *n1 = small_net(ctx, 1), *n2 = small_net(ctx, 2);
  const char *p = tmp_path("net.ckpt");
  CK(aimc_network_save(n1, p, "one", 4));
  cr_assert_eq(count_tmp_files(tmp_dir), 0, "a successful save left a temporary file");
  bytes_t before = read_bytes(p);

  struct rlimit old, lim;
  cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 4096;
  signal(SIGXFSZ, SIG_IGN); /* writes fail with EFBIG instead of killing the process */
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  aimc_status_t s = aimc_network_save(n2, p, "two", 4);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  cr_assert_eq(s, AIMC_ERR_IO, "%s", aimc_last_error());
  cr_assert(strstr(aimc_last_error(), p), "%s", aimc_last_error());
  cr_assert(strstr(aimc_last_error(), "File too large"), "%s", aimc_last_error());
  cr_assert_eq(count_tmp_files(tmp_dir), 0, "a failed save left a temporary file");
  bytes_t after = read_bytes(p);
  cr_assert_eq(after.n, before.n);
  cr_assert_arr_eq(after.b, before.b, before.n, "a failed save changed the old checkpoint");
  free(after.b);

  /* a save onto a directory fails at the rename, also without leftovers */
  const char *dirpath = tmp_path("a-directory");
  cr_assert_eq(mkdir(dirpath, 0700), 0);
  cr_assert_eq(aimc_network_save(n2, dirpath, NULL, 0), AIMC_ERR_IO);
  cr_assert(strstr(aimc_last_error(), "cannot rename"), "%s", aimc_last_error());
  cr_assert_eq(count_tmp_files(tmp_dir), 0);

  CK(aimc_network_save(n2, p, "two", 4));
  cr_assert_eq(count_tmp_files(tmp_dir), 0);
  aimc_network_t *m;
  char user[8] = {0};
  size_t len;
  CK(aimc_network_load(ctx, p, &m, user, sizeof user, &len));
  cr_assert_str_eq(user, "two");
  float wa[3 * 4], wb[3 * 4];
  CK(aimc_network_get_layer(m, 0, wa));
  CK(aimc_network_get_layer(n2, 0, wb));
  cr_assert_arr_eq(wa, wb, sizeof wa, "the file holds the second network");
  CK(aimc_network_get_layer(n1, 0, wb));
  cr_assert(memcmp(wa, wb, sizeof wa) != 0, "the two networks differ");
  free(before.b);
  aimc_network_destroy(m);
  aimc_network_destroy(n1);
  aimc_network_destroy(n2);
  aimc_context_destroy(ctx);
  assert_no_leaks();
}

/* Saving twice gives the same bytes: nothing uninitialised reaches the file. */
Test(save, deterministic_bytes) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_t *n = small_net(ctx, 4);
  CK(aimc_network_save(n, tmp_path("a.ckpt"), "u", 1));
  CK(aimc_network_save(n, tmp_path("b.ckpt"), "u", 1));
  bytes_t a = read_bytes(tmp_path("a.ckpt")), b = read_bytes(tmp_path("b.ckpt"));
  cr_assert_eq(a.n, b.n);
  cr_assert_arr_eq(a.b, b.b, a.n);
  /* and a loaded network saves to the same bytes again */
  aimc_network_t *m;
  CK(aimc_network_load(ctx, tmp_path("a.ckpt"), &m, NULL, 0, NULL));
  CK(aimc_network_save(m, tmp_path("c.ckpt"), "u", 1));
  bytes_t c = read_bytes(tmp_path("c.ckpt"));
  cr_assert_eq(a.n, c.n);
  cr_assert_arr_eq(a.b, c.b, a.n, "load + save is not the identity");
  free(a.b), free(b.b), free(c.b);
  aimc_network_destroy(m);
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
  assert_no_leaks();
}
