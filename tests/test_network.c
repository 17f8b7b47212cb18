/* Networks: the mapping of layers onto tiles, replicas and sweeps, the
 * backpropagation of a float network against a double-precision
 * reference, training on a separable task, and argument errors. */
#include "common.h"

/* Float SGD with perfect reads: the network is an ordinary MLP. */
static aimc_tile_config_t float_config(void) {
  aimc_tile_config_t c;
  aimc_tile_config_default(&c);
  CK(aimc_tile_config_algorithm(&c, AIMC_ALGO_FLOAT_SGD));
  aimc_tile_config_io_preset(&c, AIMC_IO_PERFECT);
  c.device.w_max = 100.0f, c.device.w_min = -100.0f; /* programming does not clip */
  c.device.w_max_dtod = c.device.w_min_dtod = 0.0f;
  return c;
}

static aimc_network_t *make_net(aimc_context_t *ctx, int n_sizes, const int32_t *sizes,
                                aimc_activation_t act, const aimc_tile_config_t *cfg,
                                int32_t max_tile, uint64_t seed) {
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, n_sizes, sizes, act, cfg));
  d.max_tile_size = max_tile;
  d.seed = seed;
  d.learning_rate = 0.1f;
  aimc_network_t *n = NULL;
  CK(aimc_network_create(ctx, &d, &n));
  return n;
}

/* A layer split over a 4 x 3 grid of padded tiles computes what one tile
 * computes, to float rounding of the partial sums (n u sum |w x|), both
 * before and after training steps. */
Test(mapping, split_layer_equals_unsplit_layer) {
  aimc_context_t *ctx = test_context(2, 1);
  const int32_t sizes[3] = {17, 23, 5};
  aimc_tile_config_t cfg = float_config();
  aimc_network_t *big = make_net(ctx, 3, sizes, AIMC_ACT_TANH, &cfg, 1000, 7);
  aimc_network_t *split = make_net(ctx, 3, sizes, AIMC_ACT_TANH, &cfg, 6, 7);
  float w0[23 * 17], w1[5 * 23], b0[23], b1[5];
  CK(aimc_network_get_layer(big, 0, w0));
  CK(aimc_network_get_layer(big, 1, w1));
  CK(aimc_network_get_bias(big, 0, b0));
  CK(aimc_network_get_bias(big, 1, b1));
  CK(aimc_network_program_layer(split, 0, w0, b0));
  CK(aimc_network_program_layer(split, 1, w1, b1));
  aimc_tiles_t *t;
  int64_t n_tiles;
  CK(aimc_network_layer_tiles(split, 0, &t));
  CK(aimc_tiles_shape(t, &n_tiles, NULL, NULL));
  cr_assert_eq(n_tiles, 12, "23 x 17 in tiles of at most 6: a 4 x 3 grid");
  test_rng_t r = {5};
  float x[8 * 17], ya[8 * 5], yb[8 * 5];
  int32_t labels[8] = {0, 1, 2, 3, 4, 0, 1, 2};
  for (int step = 0; step < 4; ++step) {
    test_fill(&r, x, 8 * 17, -1, 1);
    CK(aimc_network_forward(big, x, ya, 8));
    CK(aimc_network_forward(split, x, yb, 8));
    for (int k = 0; k < 8 * 5; ++k)
      cr_assert_lt(fabsf(ya[k] - yb[k]), 1e-5f * (1.0f + fabsf(ya[k])), "step %d logit %d: %g vs %g",
                   step, k, ya[k], yb[k]);
    CK(aimc_network_train_batch(big, x, labels, 8, NULL));
    CK(aimc_network_train_batch(split, x, labels, 8, NULL));
  }
  aimc_network_destroy(big), aimc_network_destroy(split);
  aimc_context_destroy(ctx);
}

/* ---- Replicas and sweeps ------------------------------------------------------- */

static aimc_network_desc_t sweep_desc(int32_t seeds) {
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_device_desc_preset(&cfg.device, AIMC_PRESET_GOKMEN_VLASOV);
  const int32_t sizes[3] = {6, 5, 3};
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, 3, sizes, AIMC_ACT_SIGMOID, &cfg));
  d.seeds = seeds;
  d.seed = 99;
  d.max_tile_size = 4;
  return d;
}

/* Replicas with the same seed index and the same values are identical
 * forever; another seed index gives other devices. */
Test(replicas, equal_seeds_are_identical) {
  aimc_context_t *ctx = test_context(2, 1);
  aimc_network_desc_t d = sweep_desc(2);
  d.n_sweeps = 1;
  snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "update.desired_bl");
  d.sweeps[0].n_values = 2;
  d.sweeps[0].values[0] = d.sweeps[0].values[1] = 31; /* the same value twice */
  aimc_network_t *n;
  CK(aimc_network_create(ctx, &d, &n));
  int32_t K;
  CK(aimc_network_replicas(n, &K));
  cr_assert_eq(K, 4);
  test_rng_t r = {3};
  float x[10 * 6], loss[4], w[4 * 5 * 6];
  int32_t labels[10];
  for (int step = 0; step < 5; ++step) {
    test_fill(&r, x, 60, 0, 1);
    for (int b = 0; b < 10; ++b) labels[b] = (int32_t)(test_next(&r) % 3);
    CK(aimc_network_train_batch(n, x, labels, 10, loss));
  }
  CK(aimc_network_get_layer(n, 0, w));
  /* replicas 0 and 2 share seed index 0, 1 and 3 seed index 1 */
  cr_assert_arr_eq(w, w + 60, 0, "");
  cr_assert_arr_eq(w, w + 2 * 30, 30 * sizeof(float), "replicas 0 and 2 differ");
  cr_assert_arr_eq(w + 30, w + 3 * 30, 30 * sizeof(float), "replicas 1 and 3 differ");
  cr_assert(memcmp(w, w + 30, 30 * sizeof(float)) != 0, "seed indices 0 and 1 are equal");
  cr_assert_eq(loss[0], loss[2]);
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

/* Every tile of replica k carries the values the sweep assigns to k. */
Test(sweeps, values_reach_their_replicas) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_desc_t d = sweep_desc(2);
  d.n_sweeps = 2;
  snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "device.dw_min");
  d.sweeps[0].n_values = 3;
  d.sweeps[0].values[0] = 0.001, d.sweeps[0].values[1] = 0.002, d.sweeps[0].values[2] = 0.004;
  snprintf(d.sweeps[1].field, AIMC_FIELD_LEN, "forward.out_noise");
  d.sweeps[1].n_values = 2;
  d.sweeps[1].values[0] = 0.0, d.sweeps[1].values[1] = 0.25;
  aimc_network_t *n;
  CK(aimc_network_create(ctx, &d, &n));
  int32_t K;
  CK(aimc_network_replicas(n, &K));
  cr_assert_eq(K, 12);
  for (int32_t l = 0; l < 2; ++l) {
    aimc_tiles_t *t;
    int64_t T;
    CK(aimc_network_layer_tiles(n, l, &t));
    CK(aimc_tiles_shape(t, &T, NULL, NULL));
    int64_t per = T / K;
    for (int64_t q = 0; q < T; ++q) {
      int32_t k = (int32_t)(q / per);
      double v0, v1;
      CK(aimc_network_sweep_value(n, k, 0, &v0));
      CK(aimc_network_sweep_value(n, k, 1, &v1));
      cr_assert_eq(v0, d.sweeps[0].values[(k / 2) / 2], "replica %d: documented decomposition", k);
      cr_assert_eq(v1, d.sweeps[1].values[(k / 2) % 2]);
      aimc_tile_config_t c;
      CK(aimc_tiles_get_config(t, q, &c));
      cr_assert_eq(c.device.dw_min, (float)v0, "layer %d tile %lld", l, (long long)q);
      cr_assert_eq(c.forward.out_noise, (float)v1);
      cr_assert_eq(c.update.learning_rate, d.learning_rate);
    }
  }
  double v;
  cr_assert_eq(aimc_network_sweep_value(n, 12, 0, &v), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_sweep_value(n, 0, 2, &v), AIMC_ERR_INVALID_ARGUMENT);
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

/* ---- Backpropagation ------------------------------------------------------------ */

static double act_d(int act, double v) {
  return act == AIMC_ACT_SIGMOID ? 1.0 / (1.0 + exp(-v)) : act == AIMC_ACT_TANH ? tanh(v)
                                 : act == AIMC_ACT_RELU ? (v > 0 ? v : 0) : v;
}
static double slope_d(int act, double y) {
  return act == AIMC_ACT_SIGMOID ? y * (1 - y) : act == AIMC_ACT_TANH ? 1 - y * y
                                 : act == AIMC_ACT_RELU ? (y > 0 ? 1.0 : 0.0) : 1.0;
}

/* One SGD step of a float network equals backpropagation in double: loss,
 * weights and biases to 1e-5. */
static void check_step(aimc_activation_t act) {
  enum { I = 7, H = 9, O = 4, B = 6 };
  aimc_context_t *ctx = test_context(2, 1);
  const int32_t sizes[3] = {I, H, O};
  aimc_tile_config_t cfg = float_config();
  aimc_network_t *n = make_net(ctx, 3, sizes, act, &cfg, 4, 11);
  float w0[H * I], w1[O * H], b0[H], b1[O], x[B * I], loss;
  int32_t labels[B] = {0, 3, 1, 2, 3, 0};
  CK(aimc_network_get_layer(n, 0, w0));
  CK(aimc_network_get_layer(n, 1, w1));
  CK(aimc_network_get_bias(n, 0, b0));
  CK(aimc_network_get_bias(n, 1, b1));
  test_rng_t r = {17};
  test_fill(&r, x, B * I, -1, 1);
  CK(aimc_network_train_batch(n, x, labels, B, &loss));
  /* reference in double */
  double h[B][H], z[B][O], g1[B][O], g0[B][H], L = 0, lr = 0.1;
  for (int b = 0; b < B; ++b) {
    for (int i = 0; i < H; ++i) {
      double s = b0[i];
      for (int j = 0; j < I; ++j) s += (double)w0[i * I + j] * x[b * I + j];
      h[b][i] = act_d(act, s);
    }
    double zmax = -1e300, sum = 0;
    for (int o = 0; o < O; ++o) {
      double s = b1[o];
      for (int i = 0; i < H; ++i) s += (double)w1[o * H + i] * h[b][i];
      z[b][o] = s, zmax = fmax(zmax, s);
    }
    for (int o = 0; o < O; ++o) sum += exp(z[b][o] - zmax);
    L += log(sum) - (z[b][labels[b]] - zmax);
    for (int o = 0; o < O; ++o) g1[b][o] = (exp(z[b][o] - zmax) / sum - (o == labels[b])) / B;
    for (int i = 0; i < H; ++i) {
      double s = 0;
      for (int o = 0; o < O; ++o) s += (double)w1[o * H + i] * g1[b][o];
      g0[b][i] = s * slope_d(act, h[b][i]);
    }
  }
  cr_assert_lt(fabs(loss - L / B), 1e-5, "loss %g vs %g", loss, L / B);
  float nw0[H * I], nw1[O * H], nb0[H], nb1[O];
  CK(aimc_network_get_layer(n, 0, nw0));
  CK(aimc_network_get_layer(n, 1, nw1));
  CK(aimc_network_get_bias(n, 0, nb0));
  CK(aimc_network_get_bias(n, 1, nb1));
  for (int o = 0; o < O; ++o) {
    double gb = 0;
    for (int b = 0; b < B; ++b) gb += g1[b][o];
    cr_assert_lt(fabs(nb1[o] - (b1[o] - lr * gb)), 1e-5);
    for (int i = 0; i < H; ++i) {
      double g = 0;
      for (int b = 0; b < B; ++b) g += g1[b][o] * h[b][i];
      cr_assert_lt(fabs(nw1[o * H + i] - (w1[o * H + i] - lr * g)), 1e-5, "w1[%d][%d]", o, i);
    }
  }
  for (int i = 0; i < H; ++i) {
    double gb = 0;
    for (int b = 0; b < B; ++b) gb += g0[b][i];
    cr_assert_lt(fabs(nb0[i] - (b0[i] - lr * gb)), 1e-5);
    for (int j = 0; j < I; ++j) {
      double g = 0;
      for (int b = 0; b < B; ++b) g += g0[b][i] * x[b * I + j];
      cr_assert_lt(fabs(nw0[i * I + j] - (w0[i * I + j] - lr * g)), 1e-5, "w0[%d][%d]", i, j);
    }
  }
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

Test(backprop, sigmoid_step_matches_double) { check_step(AIMC_ACT_SIGMOID); }
Test(backprop, tanh_step_matches_double) { check_step(AIMC_ACT_TANH); }
Test(backprop, relu_step_matches_double) { check_step(AIMC_ACT_RELU); }

/* ---- Training -------------------------------------------------------------------- */

/* Three Gaussian blobs in 8 dimensions, 16 epochs of 300 samples: analog
 * SGD (Idealized preset), chopped TTv2 and AGAD (ReRamSB presets, tuned for
 * large layers, hence slower here) learn them. Observed with these seeds:
 * train loss from 1.1 to 0.1 (SGD) and about 0.5 (chopped TTv2, AGAD), test
 * accuracy 95-100 %; the bounds are loss below 0.7 of its start and
 * accuracy above 85 % (chance is 33 %). */
static void learn_blobs(aimc_algorithm_t kind, aimc_device_preset_t device) {
  enum { D = 8, C = 3, N = 600, B = 10, EPOCHS = 16 };
  aimc_context_t *ctx = test_context(0, 1); /* automatic threads, as the trainer */
  aimc_tile_config_t cfg;
  CK(aimc_tile_config_preset(&cfg, kind, device));
  const int32_t sizes[3] = {D, 16, C};
  aimc_network_desc_t d;
  CK(aimc_network_desc_mlp(&d, 3, sizes, AIMC_ACT_SIGMOID, &cfg));
  d.seed = 5, d.learning_rate = 0.5f;
  aimc_network_t *n;
  CK(aimc_network_create(ctx, &d, &n));
  static float x[N * D];
  static int32_t y[N];
  test_rng_t r = {41};
  float centers[C][D];
  for (int c = 0; c < C; ++c) test_fill(&r, centers[c], D, -1, 1);
  for (int k = 0; k < N; ++k) {
    y[k] = k % C;
    for (int j = 0; j < D; ++j) x[k * D + j] = centers[y[k]][j] + test_uniform(&r, -0.3f, 0.3f);
  }
  float first = 0, last = 0, loss;
  for (int epoch = 0; epoch < EPOCHS; ++epoch)
    for (int b0 = 0; b0 < N / 2; b0 += B) {
      CK(aimc_network_train_batch(n, x + b0 * D, y + b0, B, &loss));
      if (epoch == 0) first += loss / (N / 2 / B);
      if (epoch == EPOCHS - 1) last += loss / (N / 2 / B);
    }
  int64_t correct;
  CK(aimc_network_evaluate(n, x + (N / 2) * D, y + N / 2, N / 2, 32, &correct));
  cr_assert_lt(last, 0.7f * first, "%s: loss %g -> %g", aimc_algorithm_name(kind), first, last);
  cr_assert_gt(correct, (int64_t)(0.85 * N / 2), "%s: %lld of %d correct",
               aimc_algorithm_name(kind), (long long)correct, N / 2);
  uint64_t pulses, weights;
  CK(aimc_network_pulses(n, &pulses, &weights));
  cr_assert_gt(pulses, 0u);
  cr_assert_eq(weights, (uint64_t)(kind == AIMC_ALGO_SGD ? 1 : 2) * (D * 16 + 16 * C));
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

Test(training, analog_sgd_learns_blobs) { learn_blobs(AIMC_ALGO_SGD, AIMC_PRESET_IDEALIZED); }
Test(training, chopped_ttv2_learns_blobs) {
  learn_blobs(AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_RERAM_SB);
}
Test(training, agad_learns_blobs) { learn_blobs(AIMC_ALGO_AGAD, AIMC_PRESET_RERAM_SB); }

/* ---- Errors ------------------------------------------------------------------------ */

Test(errors, descriptions_and_arguments) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_network_desc_t d = sweep_desc(1);
  aimc_network_t *n = (aimc_network_t *)&d;
  d.layers[1].in = 4;
  cr_assert_eq(aimc_network_create(ctx, &d, &n), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "desc->layers[1].in = 4 differs from desc->layers[0].out = 5"),
            "%s", aimc_last_error());
  d = sweep_desc(1);
  d.n_sweeps = 1;
  snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "device.nope");
  d.sweeps[0].n_values = 1;
  cr_assert_eq(aimc_network_create(ctx, &d, &n), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "device.nope"), "%s", aimc_last_error());
  snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "device.dw_min");
  d.sweeps[0].values[0] = -1;
  cr_assert_eq(aimc_network_create(ctx, &d, &n), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "device.dw_min = -1"), "%s", aimc_last_error());
  d = sweep_desc(70000);
  cr_assert_eq(aimc_network_create(ctx, &d, &n), AIMC_ERR_INVALID_ARGUMENT);
  d = sweep_desc(1);
  d.layers[1].out = 1;
  cr_assert_eq(aimc_network_create(ctx, &d, &n), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "at least 2 classes"), "%s", aimc_last_error());
  cr_assert_eq(n, (aimc_network_t *)&d, "failed creations leave the output alone");
  d = sweep_desc(1);
  CK(aimc_network_create(ctx, &d, &n));
  float x[6] = {0}, y[3];
  int32_t label = 5;
  cr_assert_eq(aimc_network_forward(n, x, y, 0), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_train_batch(n, NULL, &label, 1, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_set_learning_rate(n, -1), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_network_get_layer(n, 2, y), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "layer = 2"), "%s", aimc_last_error());
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}
