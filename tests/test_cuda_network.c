/* CUDA against CPU, bit for bit, for networks: a 20-17-9-4 MLP split over
 * grids of tiles of at most 8 x 8, two seeds times a sweep (or a grid of
 * two sweeps), trained on a synthetic task with every algorithm; per-batch
 * losses, evaluation counts, logits, weights, biases, every tile's state
 * and statistics must be identical. Checkpoints are backend-independent:
 * a network saved on the GPU and loaded on the CPU continues exactly like
 * its twin that never left the CPU (and the other way round). Without a GPU
 * the suite exits with 77 (skipped). */
#include "cuda_common.h"
#include "scratch.h"

#include <dirent.h>
#include <sys/stat.h>

enum { D = 20, H1 = 17, H2 = 9, C = 4, N_TRAIN = 48, N_TEST = 40, B = 8, BATCHES = N_TRAIN / B };

/* ---- Data ---------------------------------------------------------------------------------- */

typedef struct data {
  float x[(N_TRAIN + N_TEST) * D];
  int32_t y[N_TRAIN + N_TEST];
} data_t;

/* Four noisy blobs (fixed seed). */
static void make_data(data_t *dt) {
  test_rng_t r = {2024};
  float centers[C][D];
  for (int c = 0; c < C; ++c) test_fill(&r, centers[c], D, -1, 1);
  for (int k = 0; k < N_TRAIN + N_TEST; ++k) {
    dt->y[k] = (int32_t)(test_next(&r) % C);
    for (int j = 0; j < D; ++j)
      dt->x[k * D + j] = centers[dt->y[k]][j] + test_uniform(&r, -0.5f, 0.5f);
  }
}

/* The data set in a context's memory. */
typedef struct ctx_data {
  aimc_context_t *ctx;
  float *x;
  int32_t *y;
} ctx_data_t;

static ctx_data_t upload_data(aimc_context_t *ctx, const data_t *dt) {
  ctx_data_t cd = {ctx, ctx_upload(ctx, dt->x, sizeof dt->x), ctx_upload(ctx, dt->y, sizeof dt->y)};
  return cd;
}

static void free_data(ctx_data_t *cd) {
  aimc_free(cd->ctx, cd->x);
  aimc_free(cd->ctx, cd->y);
}

/* Mini-batch k (mod BATCHES) of the training set; loss: host, one per replica. */
static void train(aimc_network_t *n, const ctx_data_t *cd, int k, float *loss) {
  int b = k % BATCHES;
  CK(aimc_network_train_batch(n, cd->x + (size_t)b * B * D, cd->y + (size_t)b * B, B, loss));
}

/* ---- Snapshots: everything observable of a network, in host memory -------------------------- */

typedef enum { BLOB_F32, BLOB_I8, BLOB_STATS, BLOB_U64, BLOB_I64 } blob_kind_t;

typedef struct blob {
  char name[96];
  blob_kind_t kind;
  size_t n, n1, n2; /* elements; shown as [n / (n1 n2)][n1][n2] */
  void *data;
} blob_t;

#define MAX_BLOBS 512

typedef struct snapshot {
  int count;
  blob_t b[MAX_BLOBS];
} snapshot_t;

static void *snap_add(snapshot_t *s, blob_kind_t kind, size_t n, size_t elem, size_t n1,
                      size_t n2, const char *name) {
  cr_assert_lt(s->count, MAX_BLOBS);
  blob_t *b = &s->b[s->count++];
  snprintf(b->name, sizeof b->name, "%s", name);
  b->kind = kind, b->n = n, b->n1 = n1, b->n2 = n2;
  b->data = calloc(n ? n : 1, elem);
  cr_assert_not_null(b->data);
  return b->data;
}

static void snap_free(snapshot_t *s) {
  for (int i = 0; i < s->count; ++i) free(s->b[i].data);
  free(s);
}

/* Weights, biases, every array's device parameters, buffers, choppers and
 * statistics of every layer, pulse counts, then evaluation counts and
 * logits on the test set (which advance the read streams: snapshot each
 * network being compared exactly once at the same point). */
static snapshot_t *snapshot(aimc_network_t *net, const ctx_data_t *cd) {
  snapshot_t *s = calloc(1, sizeof *s);
  cr_assert_not_null(s);
  aimc_context_t *ctx = cd->ctx;
  aimc_network_desc_t desc;
  CK(aimc_network_desc_get(net, &desc));
  int32_t K;
  CK(aimc_network_replicas(net, &K));
  size_t cap = (size_t)K * N_TEST * C;
  for (int32_t l = 0; l < desc.n_layers; ++l) {
    aimc_tiles_t *t;
    int64_t T;
    int32_t rows, cols;
    CK(aimc_network_layer_tiles(net, l, &t));
    CK(aimc_tiles_shape(t, &T, &rows, &cols));
    size_t per = (size_t)T * (size_t)rows * (size_t)cols;
    size_t lw = (size_t)K * (size_t)desc.layers[l].out * (size_t)desc.layers[l].in;
    cap = per > cap ? per : cap;
    cap = lw > cap ? lw : cap;
  }
  float *scr = ctx_alloc(ctx, cap * sizeof(float));
  char name[96];
  for (int32_t l = 0; l < desc.n_layers; ++l) {
    size_t out = (size_t)desc.layers[l].out, in = (size_t)desc.layers[l].in;
    CK(aimc_network_get_layer(net, l, scr));
    snprintf(name, sizeof name, "layer %d weights", (int)l);
    ctx_download(ctx, snap_add(s, BLOB_F32, (size_t)K * out * in, sizeof(float), out, in, name),
                 scr, (size_t)K * out * in * sizeof(float));
    CK(aimc_network_get_bias(net, l, scr));
    snprintf(name, sizeof name, "layer %d biases", (int)l);
    ctx_download(ctx, snap_add(s, BLOB_F32, (size_t)K * out, sizeof(float), 1, out, name), scr,
                 (size_t)K * out * sizeof(float));
    aimc_tiles_t *t;
    int64_t T;
    int32_t rows, cols, arrays;
    CK(aimc_network_layer_tiles(net, l, &t));
    CK(aimc_tiles_shape(t, &T, &rows, &cols));
    CK(aimc_tiles_n_arrays(t, &arrays));
    size_t per = (size_t)T * (size_t)rows * (size_t)cols;
    for (int32_t a = 0; a < arrays; ++a)
      for (int q = 0; q < AIMC_PARAM_COUNT; ++q) {
        CK(aimc_tiles_get_device_param_ex(t, a, (aimc_device_param_t)q, scr));
        snprintf(name, sizeof name, "layer %d array %d %s", (int)l, (int)a, cuda_param_name(q));
        float *v = snap_add(s, BLOB_F32, per, sizeof(float), (size_t)rows, (size_t)cols, name);
        ctx_download(ctx, v, scr, per * sizeof(float));
      }
    static const char *bufs[AIMC_BUFFER_COUNT] = {"TRANSFER", "RUNNING_MEAN", "PAST_MEAN"};
    for (int q = 0; q < AIMC_BUFFER_COUNT; ++q) {
      CK(aimc_tiles_get_buffer(t, (aimc_buffer_t)q, scr));
      snprintf(name, sizeof name, "layer %d buffer %s", (int)l, bufs[q]);
      ctx_download(ctx, snap_add(s, BLOB_F32, per, sizeof(float), (size_t)rows, (size_t)cols, name),
                   scr, per * sizeof(float));
    }
    snprintf(name, sizeof name, "layer %d input choppers", (int)l);
    int8_t *ci = snap_add(s, BLOB_I8, (size_t)T * (size_t)cols, 1, 1, (size_t)cols, name);
    snprintf(name, sizeof name, "layer %d output choppers", (int)l);
    int8_t *co = snap_add(s, BLOB_I8, (size_t)T * (size_t)rows, 1, 1, (size_t)rows, name);
    CK(aimc_tiles_get_choppers(t, ci, co));
    snprintf(name, sizeof name, "layer %d statistics", (int)l);
    CK(aimc_tiles_get_stats(t, snap_add(s, BLOB_STATS, (size_t)T, sizeof(aimc_tile_stats_t), 1, 1,
                                        name)));
  }
  uint64_t *pulses = snap_add(s, BLOB_U64, (size_t)K, sizeof(uint64_t), 1, 1, "pulses");
  uint64_t *weights = snap_add(s, BLOB_U64, (size_t)K, sizeof(uint64_t), 1, 1, "weights counted");
  CK(aimc_network_pulses(net, pulses, weights));
  /* 40 test samples in batches of 16: two full batches and a partial one */
  CK(aimc_network_evaluate(net, cd->x + (size_t)N_TRAIN * D, cd->y + N_TRAIN, N_TEST, 16,
                           snap_add(s, BLOB_I64, (size_t)K, sizeof(int64_t), 1, 1, "correct")));
  CK(aimc_network_forward(net, cd->x + (size_t)N_TRAIN * D, scr, N_TEST));
  ctx_download(ctx,
               snap_add(s, BLOB_F32, (size_t)K * N_TEST * C, sizeof(float), N_TEST, C, "logits"),
               scr, (size_t)K * N_TEST * C * sizeof(float));
  aimc_free(ctx, scr);
  return s;
}

static void expect_same(const snapshot_t *a, const snapshot_t *b, const char *what) {
  cr_assert_eq(a->count, b->count, "%s: %d vs %d arrays of state", what, a->count, b->count);
  char m[256];
  for (int i = 0; i < a->count; ++i) {
    const blob_t *x = &a->b[i], *y = &b->b[i];
    cr_assert_str_eq(x->name, y->name, "%s: state %d", what, i);
    cr_assert_eq(x->n, y->n, "%s: %s: %zu vs %zu elements", what, x->name, x->n, y->n);
    snprintf(m, sizeof m, "%s: %s", what, x->name);
    switch (x->kind) {
      case BLOB_F32: cuda_expect_floats(m, x->data, y->data, x->n, x->n1, x->n2); break;
      case BLOB_I8: cuda_expect_i8(m, x->data, y->data, x->n, x->n2); break;
      case BLOB_STATS: cuda_expect_stats(m, x->data, y->data, (int64_t)x->n); break;
      case BLOB_U64: cuda_expect_u64(m, x->data, y->data, x->n); break;
      case BLOB_I64: cuda_expect_i64(m, x->data, y->data, x->n); break;
    }
  }
}

/* ---- Networks ------------------------------------------------------------------------------- */

typedef struct net_case {
  const char *name;
  aimc_algorithm_t kind;
  int preset; /* aimc_tile_config_preset(kind, device), else aimc_tile_config_algorithm(kind) */
  aimc_device_preset_t device;
  aimc_activation_t act;
  int grid; /* two sweeps instead of one */
} net_case_t;

/* 20-17-9-4, tiles of at most 8 (layer 0: a 3 x 3 grid per replica), two
 * seeds x forward.out_noise {0.02, 0.1} (x update.desired_bl {15, 31}). */
static aimc_network_desc_t net_desc(const net_case_t *nc) {
  aimc_tile_config_t cfg;
  if (nc->preset) {
    CK(aimc_tile_config_preset(&cfg, nc->kind, nc->device));
  } else {
    aimc_tile_config_default(&cfg);
    CK(aimc_tile_config_algorithm(&cfg, nc->kind));
  }
  const int32_t sizes[4] = {D, H1, H2, C};
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, 4, sizes, nc->act, &cfg));
  d.max_tile_size = 8;
  d.seeds = 2;
  d.seed = 2;
  d.learning_rate = 0.1f;
  d.n_sweeps = nc->grid ? 2 : 1;
  snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "forward.out_noise");
  d.sweeps[0].n_values = 2;
  d.sweeps[0].values[0] = 0.02, d.sweeps[0].values[1] = 0.1;
  if (nc->grid) {
    snprintf(d.sweeps[1].field, AIMC_FIELD_LEN, "update.desired_bl");
    d.sweeps[1].n_values = 2;
    d.sweeps[1].values[0] = 15, d.sweeps[1].values[1] = 31;
  }
  return d;
}

static int32_t replicas_of(aimc_network_t *n) {
  int32_t K;
  CK(aimc_network_replicas(n, &K));
  return K;
}

/* Trains a and b on batches [k0, k1), comparing the per-replica losses. */
static void train_both(aimc_network_t *a, const ctx_data_t *da, aimc_network_t *b,
                       const ctx_data_t *db, int k0, int k1, const char *what) {
  int32_t K = replicas_of(a);
  cr_assert_eq(K, replicas_of(b), "%s: replicas", what);
  float *la = test_alloc((size_t)K), *lb = test_alloc((size_t)K);
  char m[160];
  for (int k = k0; k < k1; ++k) {
    train(a, da, k, la);
    train(b, db, k, lb);
    cuda_expect_floats(cuda_fmt(m, sizeof m, "%s: losses of batch %d", what, k), la, lb, (size_t)K,
                       1, 1);
    for (int32_t r = 0; r < K; ++r) cr_assert(isfinite(la[r]), "%s: loss %d is %g", what, r, la[r]);
  }
  free(la), free(lb);
}

static void check_network(const net_case_t *nc) {
  static data_t dt;
  make_data(&dt);
  cuda_pair_t p = cuda_pair_create(3);
  ctx_data_t dc = upload_data(p.cpu, &dt), dd = upload_data(p.dev, &dt);
  aimc_network_desc_t desc = net_desc(nc);
  aimc_network_t *nc_cpu, *nc_dev;
  CK(aimc_network_create(p.cpu, &desc, &nc_cpu));
  CK(aimc_network_create(p.dev, &desc, &nc_dev));
  cr_assert_eq(replicas_of(nc_cpu), nc->grid ? 8 : 4);
  char m[128];
  snapshot_t *a = snapshot(nc_cpu, &dc), *b = snapshot(nc_dev, &dd);
  expect_same(a, b, cuda_fmt(m, sizeof m, "%s: created", nc->name));
  snap_free(a), snap_free(b);
  train_both(nc_cpu, &dc, nc_dev, &dd, 0, BATCHES, nc->name);
  CK(aimc_network_set_learning_rate(nc_cpu, 0.05f));
  CK(aimc_network_set_learning_rate(nc_dev, 0.05f));
  train_both(nc_cpu, &dc, nc_dev, &dd, BATCHES, BATCHES + 3, nc->name);
  a = snapshot(nc_cpu, &dc), b = snapshot(nc_dev, &dd);
  expect_same(a, b, cuda_fmt(m, sizeof m, "%s: trained", nc->name));
  snap_free(a), snap_free(b);
  if (nc->kind != AIMC_ALGO_FLOAT_SGD) { /* the training really pulsed the devices */
    uint64_t pulses[8], weights[8];
    CK(aimc_network_pulses(nc_cpu, pulses, weights));
    for (int32_t k = 0; k < replicas_of(nc_cpu); ++k)
      cr_assert_gt(pulses[k], 0u, "%s: replica %d never pulsed", nc->name, (int)k);
  }
  aimc_network_destroy(nc_cpu);
  aimc_network_destroy(nc_dev);
  free_data(&dc), free_data(&dd);
  cuda_pair_destroy(&p);
}

Test(network, sgd_sigmoid) {
  net_case_t c = {"SGD, Gokmen-Vlasov, sigmoid", AIMC_ALGO_SGD, 1, AIMC_PRESET_GOKMEN_VLASOV,
                  AIMC_ACT_SIGMOID, 0};
  check_network(&c);
}
Test(network, sgd_relu_grid) {
  net_case_t c = {"SGD, ReRamES, relu, two sweeps", AIMC_ALGO_SGD, 1, AIMC_PRESET_RERAM_ES,
                  AIMC_ACT_RELU, 1};
  check_network(&c);
}
Test(network, float_sgd_tanh) {
  net_case_t c = {"float SGD, tanh", AIMC_ALGO_FLOAT_SGD, 0, AIMC_PRESET_IDEALIZED, AIMC_ACT_TANH,
                  0};
  check_network(&c);
}
Test(network, tiki_taka_sigmoid) {
  net_case_t c = {"Tiki-Taka, Capacitor, sigmoid", AIMC_ALGO_TIKI_TAKA, 1, AIMC_PRESET_CAPACITOR,
                  AIMC_ACT_SIGMOID, 0};
  check_network(&c);
}
Test(network, ttv2_relu) {
  net_case_t c = {"TTv2, relu", AIMC_ALGO_TTV2, 0, AIMC_PRESET_IDEALIZED, AIMC_ACT_RELU, 0};
  check_network(&c);
}
Test(network, chopped_ttv2_sigmoid_grid) {
  net_case_t c = {"chopped TTv2, ReRamSB, sigmoid, two sweeps", AIMC_ALGO_CHOPPED_TTV2, 1,
                  AIMC_PRESET_RERAM_SB, AIMC_ACT_SIGMOID, 1};
  check_network(&c);
}
Test(network, chopped_ttv2_relu) {
  net_case_t c = {"chopped TTv2, ReRamSB, relu", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB,
                  AIMC_ACT_RELU, 0};
  check_network(&c);
}
Test(network, agad_relu) {
  net_case_t c = {"AGAD, ReRamSB, relu", AIMC_ALGO_AGAD, 1, AIMC_PRESET_RERAM_SB, AIMC_ACT_RELU,
                  0};
  check_network(&c);
}
Test(network, mixed_precision_sigmoid) {
  net_case_t c = {"mixed precision, ReRamSB, sigmoid", AIMC_ALGO_MIXED_PRECISION, 1,
                  AIMC_PRESET_RERAM_SB, AIMC_ACT_SIGMOID, 0};
  check_network(&c);
}
Test(network, mixed_precision_relu) {
  net_case_t c = {"mixed precision, Capacitor, relu", AIMC_ALGO_MIXED_PRECISION, 1,
                  AIMC_PRESET_CAPACITOR, AIMC_ACT_RELU, 0};
  check_network(&c);
}
Test(network, stellar_sigmoid) {
  net_case_t c = {"STELLAR, sigmoid (gated updates)", AIMC_ALGO_STELLAR, 0, AIMC_PRESET_IDEALIZED,
                  AIMC_ACT_SIGMOID, 0};
  check_network(&c);
}
Test(network, panther_relu) {
  net_case_t c = {"PANTHER, relu", AIMC_ALGO_PANTHER, 0, AIMC_PRESET_IDEALIZED, AIMC_ACT_RELU, 0};
  check_network(&c);
}

/* ---- Checkpoints ----------------------------------------------------------------------------- */

TestSuite(checkpoint, .init = make_tmp_dir, .fini = remove_tmp_dir);

static long file_size(const char *path) {
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0, "stat %s", path);
  return (long)sb.st_size;
}

/* Twin (CPU) and GPU networks train 4 batches; both save. The GPU's file
 * loads into a fresh CPU context, the twin's into a fresh CUDA context; all
 * four continue 4 batches: every loss and, at the end, everything
 * observable equals the twin's. */
static void check_checkpoint(const net_case_t *nc) {
  static data_t dt;
  make_data(&dt);
  cuda_pair_t p = cuda_pair_create(3);
  aimc_context_t *cpu2 = cuda_make_context(AIMC_BACKEND_CPU, 0, 987654321);
  aimc_context_t *dev2 = cuda_make_context(AIMC_BACKEND_CUDA, 0, 55);
  ctx_data_t dc = upload_data(p.cpu, &dt), dd = upload_data(p.dev, &dt);
  ctx_data_t dc2 = upload_data(cpu2, &dt), dd2 = upload_data(dev2, &dt);
  aimc_network_desc_t desc = net_desc(nc);
  aimc_network_t *twin, *gpu, *from_gpu, *from_cpu;
  CK(aimc_network_create(p.cpu, &desc, &twin));
  CK(aimc_network_create(p.dev, &desc, &gpu));
  train_both(twin, &dc, gpu, &dd, 0, 4, nc->name);
  CK(aimc_network_set_learning_rate(twin, 0.07f)); /* learning-rate state is saved too */
  CK(aimc_network_set_learning_rate(gpu, 0.07f));

  char path_gpu[128], path_cpu[128];
  snprintf(path_gpu, sizeof path_gpu, "%s/gpu.ckpt", tmp_dir);
  snprintf(path_cpu, sizeof path_cpu, "%s/cpu.ckpt", tmp_dir);
  const char user[] = "epoch 4 of 8";
  CK(aimc_network_save(gpu, path_gpu, user, sizeof user));
  CK(aimc_network_save(twin, path_cpu, user, sizeof user));
  cr_assert_eq(file_size(path_gpu), file_size(path_cpu), "checkpoints of both backends: same size");
  char got[64] = {0};
  size_t got_len = 0;
  CK(aimc_network_load(cpu2, path_gpu, &from_gpu, got, sizeof got, &got_len));
  cr_assert_eq(got_len, sizeof user);
  cr_assert_str_eq(got, user, "the user block round-trips");
  CK(aimc_network_load(dev2, path_cpu, &from_cpu, NULL, 0, &got_len));

  char m[160];
  train_both(twin, &dc, from_gpu, &dc2, 4, 8,
             cuda_fmt(m, sizeof m, "%s: saved on CUDA, loaded on CPU", nc->name));
  train_both(gpu, &dd, from_cpu, &dd2, 4, 8,
             cuda_fmt(m, sizeof m, "%s: saved on CPU, loaded on CUDA", nc->name));
  snapshot_t *s_twin = snapshot(twin, &dc), *s_from_gpu = snapshot(from_gpu, &dc2);
  snapshot_t *s_gpu = snapshot(gpu, &dd), *s_from_cpu = snapshot(from_cpu, &dd2);
  expect_same(s_twin, s_from_gpu,
              cuda_fmt(m, sizeof m, "%s: CPU twin vs loaded from CUDA", nc->name));
  expect_same(s_twin, s_gpu, cuda_fmt(m, sizeof m, "%s: CPU twin vs CUDA", nc->name));
  expect_same(s_twin, s_from_cpu,
              cuda_fmt(m, sizeof m, "%s: CPU twin vs CUDA loaded from CPU", nc->name));
  snap_free(s_twin), snap_free(s_from_gpu), snap_free(s_gpu), snap_free(s_from_cpu);

  aimc_network_destroy(twin), aimc_network_destroy(gpu);
  aimc_network_destroy(from_gpu), aimc_network_destroy(from_cpu);
  free_data(&dc), free_data(&dd), free_data(&dc2), free_data(&dd2);
  aimc_context_destroy(cpu2), aimc_context_destroy(dev2);
  cuda_pair_destroy(&p);
}

Test(checkpoint, chopped_ttv2_across_backends) {
  net_case_t c = {"chopped TTv2 checkpoint", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB,
                  AIMC_ACT_SIGMOID, 0};
  check_checkpoint(&c);
}

Test(checkpoint, agad_across_backends) {
  net_case_t c = {"AGAD checkpoint", AIMC_ALGO_AGAD, 1, AIMC_PRESET_CAPACITOR, AIMC_ACT_RELU, 1};
  check_checkpoint(&c);
}

Test(checkpoint, mixed_precision_across_backends) {
  net_case_t c = {"mixed precision checkpoint", AIMC_ALGO_MIXED_PRECISION, 1, AIMC_PRESET_RERAM_SB,
                  AIMC_ACT_SIGMOID, 0};
  check_checkpoint(&c);
}

/* The non-finite policy in both backends (issue 11): the CUDA scans
 * (kernels/cuda/cuda_check.cu, a multi-block reduction) find the same first
 * bad element as the CPU's, so the messages are identical; labels are
 * checked in context memory; a refused call leaves both able to continue
 * in agreement. */
static aimc_status_t policy_call(aimc_context_t *ctx, int which, char *msg, size_t len) {
  enum { PT = 4, PR = 64, PC = 64, PB = 100, PIN = 8, PCLS = 3, PNB = 5 };
  aimc_status_t s = AIMC_OK;
  if (which < 2) {
    aimc_tiles_desc_t td;
    aimc_tiles_desc_default(&td);
    td.n_tiles = PT, td.rows = PR, td.cols = PC, td.seed = 5;
    aimc_tiles_t *t = NULL;
    CK(aimc_tiles_create(ctx, &td, &t));
    float *x = test_alloc((size_t)PT * PB * PC), *d = test_alloc((size_t)PT * PB * PR);
    x[(3 * PB + 90) * PC + 7] = NAN;       /* later */
    x[(2 * PB + 99) * PC + 63] = -INFINITY; /* first: tile 2, sample 99, index 63 */
    if (which == 1) { /* x finite, d not */
      x[(3 * PB + 90) * PC + 7] = x[(2 * PB + 99) * PC + 63] = 0.0f;
      d[(1 * PB + 50) * PR + 1] = INFINITY;
    }
    float *dx = ctx_upload(ctx, x, (size_t)PT * PB * PC * sizeof(float));
    float *dd = ctx_upload(ctx, d, (size_t)PT * PB * PR * sizeof(float));
    s = aimc_tiles_update(t, dx, dd, PB);
    snprintf(msg, len, "%s", aimc_last_error());
    aimc_free(ctx, dx), aimc_free(ctx, dd), free(x), free(d);
    aimc_tiles_destroy(t);
    return s;
  }
  aimc_network_desc_t nd;
  int32_t sizes[2] = {PIN, PCLS};
  CK(aimc_network_desc_mlp(&nd, 2, sizes, AIMC_ACT_NONE, NULL));
  nd.seed = 3;
  aimc_network_t *n = NULL;
  CK(aimc_network_create(ctx, &nd, &n));
  float x[PNB * PIN] = {0};
  int32_t labels[PNB] = {0, 1, 2, 1, 0};
  if (which == 2) x[3 * PIN + 2] = NAN;
  if (which == 3) labels[4] = PCLS;
  float *dx = ctx_upload(ctx, x, sizeof x);
  int32_t *dl = ctx_upload(ctx, labels, sizeof labels);
  float loss = -1.0f;
  s = aimc_network_train_batch(n, dx, dl, PNB, &loss);
  snprintf(msg, len, "%s", aimc_last_error());
  if (which == 3) {
    int64_t correct = 0;
    cr_assert_eq(aimc_network_evaluate(n, dx, dl, PNB, 2, &correct), AIMC_ERR_INVALID_ARGUMENT);
  }
  aimc_free(ctx, dx), aimc_free(ctx, dl);
  aimc_network_destroy(n);
  return s;
}

Test(policy, nonfinite_and_labels_same_in_both_backends) {
  cuda_pair_t p = cuda_pair_create(17);
  static const char *needles[4] = {"x[tile 2][sample 99][index 63] = -inf",
                                   "d[tile 1][sample 50][index 1] = inf",
                                   "x[sample 3][index 2] = nan", "labels[4] = 3 is out of range"};
  for (int which = 0; which < 4; ++which) {
    char mc[512], md[512];
    aimc_status_t sc = policy_call(p.cpu, which, mc, sizeof mc);
    aimc_status_t sd = policy_call(p.dev, which, md, sizeof md);
    cr_assert_eq(sc, AIMC_ERR_INVALID_ARGUMENT, "case %d CPU: %s", which, mc);
    cr_assert_eq(sd, AIMC_ERR_INVALID_ARGUMENT, "case %d CUDA: %s", which, md);
    cr_assert_str_eq(mc, md, "case %d: the backends name different elements", which);
    cr_assert(strstr(mc, needles[which]), "case %d: \"%s\" lacks \"%s\"", which, mc,
              needles[which]);
  }
  cuda_pair_destroy(&p);
}

CUDA_SUITE_MAIN("test_cuda_network")
