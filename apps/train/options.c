/* aimc-train: command-line parsing, checked argument by argument, and the
 * translation of the options into tile configurations and a network. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct named {
  const char *key;
  int value;
} named_t;

static const named_t ALGORITHMS[] = {
    {"sgd", AIMC_ALGO_SGD},           {"float-sgd", AIMC_ALGO_FLOAT_SGD},
    {"tiki-taka", AIMC_ALGO_TIKI_TAKA}, {"ttv2", AIMC_ALGO_TTV2},
    {"c-ttv2", AIMC_ALGO_CHOPPED_TTV2}, {"agad", AIMC_ALGO_AGAD},
    {"mixed-precision", AIMC_ALGO_MIXED_PRECISION}, {"stellar", AIMC_ALGO_STELLAR},
    {"panther", AIMC_ALGO_PANTHER},   {NULL, 0}};
static const named_t DEVICES[] = {
    {"idealized", AIMC_PRESET_IDEALIZED}, {"gokmen-vlasov", AIMC_PRESET_GOKMEN_VLASOV},
    {"reram-es", AIMC_PRESET_RERAM_ES},   {"reram-sb", AIMC_PRESET_RERAM_SB},
    {"capacitor", AIMC_PRESET_CAPACITOR}, {"ecram", AIMC_PRESET_ECRAM},
    {"ecram-mo", AIMC_PRESET_ECRAM_MO},   {NULL, 0}};
static const named_t IOS[] = {{"preset-default", -1}, {"default", AIMC_IO_DEFAULT},
                              {"preset", AIMC_IO_PRESET}, {"standard", AIMC_IO_STANDARD},
                              {"perfect", AIMC_IO_PERFECT}, {NULL, 0}};
static const named_t ACTIVATIONS[] = {{"sigmoid", AIMC_ACT_SIGMOID}, {"relu", AIMC_ACT_RELU},
                                      {"tanh", AIMC_ACT_TANH}, {NULL, 0}};
static const named_t BACKENDS[] = {{"auto", AIMC_BACKEND_AUTO}, {"cpu", AIMC_BACKEND_CPU},
                                   {"cuda", AIMC_BACKEND_CUDA}, {NULL, 0}};

static const char *key_of(const named_t *t, int v) {
  for (; t->key; ++t)
    if (t->value == v) return t->key;
  return "?";
}
const char *options_algorithm_key(aimc_algorithm_t a) { return key_of(ALGORITHMS, (int)a); }
const char *options_device_key(aimc_device_preset_t d) { return key_of(DEVICES, (int)d); }
const char *options_activation_key(aimc_activation_t a) { return key_of(ACTIVATIONS, (int)a); }
const char *options_io_key(int32_t io) { return key_of(IOS, (int)io); }

int options_float_exact_enough(double x) {
  if (x == 0.0) return 1;
  double a = fabs(x);
  return isfinite(x) && a >= (double)FLT_MIN && a <= (double)FLT_MAX;
}

static void list_keys(FILE *f, const named_t *t) {
  for (const named_t *p = t; p->key; ++p) fprintf(f, "%s%s", p == t ? "" : ", ", p->key);
}

static int lookup(const char *opt, const char *arg, const named_t *t, int *out) {
  for (const named_t *p = t; p->key; ++p)
    if (!strcmp(p->key, arg)) {
      *out = p->value;
      return 0;
    }
  fprintf(stderr, "aimc-train: --%s %s is not one of: ", opt, arg);
  list_keys(stderr, t);
  fprintf(stderr, "\n");
  return 2;
}

void options_usage(FILE *f) {
  fprintf(f,
    "usage: aimc-train [options]\n"
    "Trains fully connected networks on simulated analog tiles (aimc) on Fashion-MNIST or\n"
    "MNIST: several replicas (seeds x sweep values) in one run, all seeing the same\n"
    "mini-batches. Prints progress and a results table; writes CSV, JSON, a plot and\n"
    "checkpoints to the output folder.\n\n"
    "Data and network\n"
    "  --data DIR           IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "                       t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end in\n"
    "                       .gz) (default " DEFAULT_DATA ")\n"
    "  --train-subset N     train on the first N samples of a fixed shuffle (default 20000;\n"
    "                       0 = all 60000)\n"
    "  --test-subset N      test on the first N test samples (default 0 = all 10000)\n"
    "  --layers A,B,...     layer sizes, input first (default 784,256,128,10)\n"
    "  --activation F       hidden activation: sigmoid, relu, tanh (default sigmoid)\n"
    "  --max-tile N         largest tile side; bigger layers are split evenly over tiles and\n"
    "                       their partial outputs summed digitally (default 512)\n\n"
    "Analog hardware and algorithm\n"
    "  --algorithm A        ");
  list_keys(f, ALGORITHMS);
  fprintf(f,
    "\n"
    "                       (default sgd). Where aihwkit has a preset for the algorithm\n"
    "                       on the device, it is used; else the algorithm's defaults.\n"
    "  --device D           device preset: ");
  list_keys(f, DEVICES);
  fprintf(f,
    "\n"
    "                       (default gokmen-vlasov)\n"
    "  --io P               IO of forward, backward and transfer reads: default, preset,\n"
    "                       standard, perfect (default: the preset's own; perfect for\n"
    "                       float-sgd)\n"
    "  --set FIELD=V        set any tile-configuration field, e.g. --set forward.out_noise=0\n"
    "                       (repeatable; --list-fields prints the names)\n"
    "  --sweep FIELD=V1,V2  one replica group per value; give twice for a grid of two fields\n"
    "                       (e.g. --sweep fast_device.reference_std=0,0.5)\n"
    "  --seeds K            replicas per configuration, differing in device draws (default 3)\n"
    "  --seed N             seed of everything: device draws, initial weights, data order\n"
    "                       (default 1)\n\n"
    "Training\n"
    "  --epochs N           total epochs (default 3; on --resume, the new total)\n"
    "  --batch N            mini-batch size (default 10)\n"
    "  --lr X               learning rate of the layers and biases: 0 or a normal float in\n"
    "                       [1.2e-38, 1e6) (default 0.1)\n"
    "  --lr-schedule S      constant, step:E:F (times F every E epochs) or cosine (default\n"
    "                       constant)\n\n"
    "Running\n"
    "  --backend B          auto, cpu or cuda (default auto: the GPU when one is usable)\n"
    "  --threads N          CPU threads, 0 = automatic (default 0)\n"
    "  --out DIR            output folder (default aimc-train-out; checked writable before\n"
    "                       training); results.csv, results.json, accuracy.png,\n"
    "                       checkpoint.aimc. Stale checkpoint.aimc.tmp.* files of a killed\n"
    "                       run (untouched for a minute) are removed at start\n"
    "  --checkpoint PATH    checkpoint written after every epoch (default <out>/checkpoint.aimc;\n"
    "                       'none' for no checkpoints)\n"
    "  --resume PATH        continue a run from its checkpoint, bit for bit; the network and\n"
    "                       training options come from the checkpoint (only --epochs, --data,\n"
    "                       --out, --checkpoint, --backend, --threads, --eval-batch and the\n"
    "                       output options may be given)\n"
    "  --eval-batch N       samples per test read (default 500)\n"
    "  --progress M         auto, bar or lines (default auto: a bar on a terminal)\n"
    "  --quiet              only the results table\n"
    "  --list-fields        print the tile-configuration field names and exit\n"
    "  --help               this text\n\n"
    "Exit status: 0 done, 2 bad arguments, data, checkpoint or files, 3 training diverged\n"
    "(a non-finite loss, weight or bias, or a failed training step: the run stops, the\n"
    "checkpoint keeps the last good epoch and results.json says why in \"stopped\").\n\n"
    "Examples\n"
    "  aimc-train                      # analog SGD on the Gokmen-Vlasov device, 3 seeds\n"
    "  aimc-train --algorithm agad --device reram-sb --sweep fast_device.reference_std=0,0.5\n"
    "  aimc-train --sweep device.up_down=0,0.05,0.2 --sweep update.desired_bl=1,31\n"
    "  aimc-train --epochs 2 --out run1 && aimc-train --resume run1/checkpoint.aimc --epochs 4\n");
}

/* ---- Argument parsers: each checks the whole string and its range ------------------ */

static int parse_long(const char *opt, const char *arg, long long lo, long long hi,
                      long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (errno || end == arg || *end || v < lo || v > hi) {
    fprintf(stderr, "aimc-train: --%s %s is not an integer in [%lld, %lld]\n", opt, arg, lo, hi);
    return 2;
  }
  *out = v;
  return 0;
}

static int parse_int(const char *opt, const char *arg, long long lo, long long hi, int32_t *out) {
  long long v;
  if (parse_long(opt, arg, lo, hi, &v)) return 2;
  *out = (int32_t)v;
  return 0;
}

/* A finite number; NaN, infinities and strings that overflow or underflow a
 * double (ERANGE) are refused. */
static int parse_double(const char *opt, const char *arg, double *out) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end || !isfinite(v)) {
    fprintf(stderr, "aimc-train: --%s: '%s' is not a finite number (a decimal in about "
                    "[-1.8e308, 1.8e308], not nan, inf or below 2.2e-308 in magnitude)\n", opt, arg);
    return 2;
  }
  *out = v;
  return 0;
}

/* A number stored as a float: finite, in [lo, hi) (hi included when
 * hi_closed), and 0 or a normal float, so that it neither becomes 0 nor
 * loses its precision to a denormal. */
static int parse_float(const char *opt, const char *arg, double lo, double hi, int hi_closed,
                       float *out) {
  double x;
  if (parse_double(opt, arg, &x)) return 2;
  int in = x >= lo && (hi_closed ? x <= hi : x < hi);
  if (!in || !options_float_exact_enough(x)) {
    fprintf(stderr, "aimc-train: --%s %s is out of range: 0 or a float in [%g, %g%c with "
                    "magnitude at least %g (smaller values round to 0 or a denormal)\n",
            opt, arg, lo, hi, hi_closed ? ']' : ')', (double)FLT_MIN);
    return 2;
  }
  *out = (float)x;
  return 0;
}

/* Splits a comma-separated list into at most `max` tokens of buf (a copy of
 * arg); an empty item (a,,b or a trailing comma) is an error. */
static int split_list(const char *opt, const char *arg, char *buf, size_t cap, char **tok,
                      int32_t max, int32_t *n) {
  if (strlen(arg) >= cap) {
    fprintf(stderr, "aimc-train: --%s: list longer than %zu characters\n", opt, cap - 1);
    return 2;
  }
  snprintf(buf, cap, "%s", arg);
  *n = 0;
  for (char *p = buf;; ++p) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      fprintf(stderr, "aimc-train: --%s %s: item %d is empty\n", opt, arg, *n + 1);
      return 2;
    }
    if (*n == max) {
      fprintf(stderr, "aimc-train: --%s %s: at most %d values\n", opt, arg, max);
      return 2;
    }
    tok[(*n)++] = p;
    if (!comma) return 0;
    p = comma;
  }
}

static int parse_path(const char *opt, const char *arg, char *out) {
  if (strlen(arg) >= TRAIN_PATH_LEN) {
    fprintf(stderr, "aimc-train: --%s: path longer than %d characters\n", opt, TRAIN_PATH_LEN - 1);
    return 2;
  }
  snprintf(out, TRAIN_PATH_LEN, "%s", arg);
  return 0;
}

static int parse_layers(const char *arg, model_options_t *m) {
  char buf[512], *tok[AIMC_MAX_LAYERS + 1];
  int32_t n;
  if (split_list("layers", arg, buf, sizeof buf, tok, AIMC_MAX_LAYERS + 1, &n)) return 2;
  for (int32_t i = 0; i < n; ++i)
    if (parse_int("layers", tok[i], 1, TRAIN_MAX_LAYER_SIZE, &m->sizes[i])) return 2;
  m->n_sizes = n;
  if (m->n_sizes < 2) {
    fprintf(stderr, "aimc-train: --layers %s: need at least an input and an output size\n", arg);
    return 2;
  }
  return 0;
}

/* FIELD=V, the field checked against the configuration's names. */
static int parse_field(const char *opt, const char *arg, char *field, const char **rest) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : 0;
  if (!eq || n == 0 || n >= AIMC_FIELD_LEN || !eq[1]) {
    fprintf(stderr, "aimc-train: --%s %s: expected FIELD=VALUE%s\n", opt, arg,
            strcmp(opt, "sweep") ? "" : "1,VALUE2,...");
    return 2;
  }
  memcpy(field, arg, n);
  field[n] = '\0';
  aimc_tile_config_t probe;
  aimc_tile_config_default(&probe);
  double v;
  if (aimc_tile_config_get(&probe, field, &v) != AIMC_OK) {
    fprintf(stderr, "aimc-train: --%s: %s (see --list-fields)\n", opt, aimc_last_error());
    return 2;
  }
  *rest = eq + 1;
  return 0;
}

static int parse_set(const char *arg, model_options_t *m) {
  if (m->n_sets == TRAIN_MAX_SETS) {
    fprintf(stderr, "aimc-train: at most %d --set options\n", TRAIN_MAX_SETS);
    return 2;
  }
  field_value_t *s = &m->sets[m->n_sets];
  const char *rest;
  if (parse_field("set", arg, s->field, &rest) || parse_double("set", rest, &s->value)) return 2;
  m->n_sets++;
  return 0;
}

static int parse_sweep(const char *arg, model_options_t *m) {
  if (m->n_sweeps == AIMC_MAX_SWEEPS) {
    fprintf(stderr, "aimc-train: at most %d --sweep options (a grid of two fields)\n",
            AIMC_MAX_SWEEPS);
    return 2;
  }
  aimc_sweep_t *s = &m->sweeps[m->n_sweeps];
  const char *rest;
  if (parse_field("sweep", arg, s->field, &rest)) return 2;
  char buf[4096], *tok[AIMC_MAX_SWEEP_VALUES];
  int32_t n;
  if (split_list("sweep", rest, buf, sizeof buf, tok, AIMC_MAX_SWEEP_VALUES, &n)) return 2;
  for (int32_t i = 0; i < n; ++i)
    if (parse_double("sweep", tok[i], &s->values[i])) return 2;
  s->n_values = n;
  m->n_sweeps++;
  return 0;
}

static int parse_schedule(const char *arg, model_options_t *m) {
  if (!strcmp(arg, "constant")) {
    m->schedule = SCHEDULE_CONSTANT;
    return 0;
  }
  if (!strcmp(arg, "cosine")) {
    m->schedule = SCHEDULE_COSINE;
    return 0;
  }
  /* step:E:F, each part parsed whole and range-checked (no sscanf: %d overflow is UB) */
  char buf[128];
  const char *colon = strncmp(arg, "step:", 5) ? NULL : strchr(arg + 5, ':');
  if (!colon || strlen(arg) >= sizeof buf) {
    fprintf(stderr, "aimc-train: --lr-schedule %s is not constant, cosine or step:E:F (E >= 1 "
                    "epochs, F > 0)\n", arg);
    return 2;
  }
  snprintf(buf, sizeof buf, "%.*s", (int)(colon - (arg + 5)), arg + 5);
  int32_t every;
  float factor;
  if (parse_int("lr-schedule step:E", buf, 1, INT32_MAX, &every) ||
      parse_float("lr-schedule step:E:F", colon + 1, 0.0, TRAIN_MAX_STEP_FACTOR, 1, &factor) ||
      factor == 0.0f) {
    fprintf(stderr, "aimc-train: --lr-schedule %s: expected step:E:F with E in [1, %d] epochs "
                    "and F in (0, %g]\n", arg, INT32_MAX, TRAIN_MAX_STEP_FACTOR);
    return 2;
  }
  m->schedule = SCHEDULE_STEP;
  m->step_every = every;
  m->step_factor = factor;
  return 0;
}

static void list_fields(void) {
  for (int i = 0; aimc_tile_config_field_name(i); ++i) printf("%s\n", aimc_tile_config_field_name(i));
}

static void defaults(options_t *o) {
  memset(o, 0, sizeof *o);
  model_options_t *m = &o->model;
  const int32_t sizes[4] = {784, 256, 128, 10};
  memcpy(m->sizes, sizes, sizeof sizes);
  m->n_sizes = 4;
  m->activation = AIMC_ACT_SIGMOID;
  m->algorithm = AIMC_ALGO_SGD;
  m->device = AIMC_PRESET_GOKMEN_VLASOV;
  m->io = -1;
  m->seeds = 3;
  m->seed = 1;
  m->max_tile = 512;
  m->batch = 10;
  m->lr = 0.1f;
  m->schedule = SCHEDULE_CONSTANT;
  m->train_subset = 20000;
  run_options_t *r = &o->run;
  snprintf(r->data, sizeof r->data, "%s", DEFAULT_DATA);
  snprintf(r->out, sizeof r->out, "aimc-train-out");
  r->epochs = 3;
  r->eval_batch = 500;
  r->backend = AIMC_BACKEND_AUTO;
  r->progress = -1;
}

enum {
  OPT_DATA = 256, OPT_TRAIN_SUBSET, OPT_TEST_SUBSET, OPT_LAYERS, OPT_ACTIVATION, OPT_MAX_TILE,
  OPT_ALGORITHM, OPT_DEVICE, OPT_IO, OPT_SET, OPT_SWEEP, OPT_SEEDS, OPT_SEED, OPT_EPOCHS,
  OPT_BATCH, OPT_LR, OPT_SCHEDULE, OPT_BACKEND, OPT_THREADS, OPT_OUT, OPT_CHECKPOINT,
  OPT_RESUME, OPT_EVAL_BATCH, OPT_PROGRESS, OPT_QUIET, OPT_LIST_FIELDS, OPT_HELP
};

static const struct option LONGS[] = {
    {"data", 1, 0, OPT_DATA},         {"train-subset", 1, 0, OPT_TRAIN_SUBSET},
    {"test-subset", 1, 0, OPT_TEST_SUBSET}, {"layers", 1, 0, OPT_LAYERS},
    {"activation", 1, 0, OPT_ACTIVATION}, {"max-tile", 1, 0, OPT_MAX_TILE},
    {"algorithm", 1, 0, OPT_ALGORITHM}, {"device", 1, 0, OPT_DEVICE},
    {"io", 1, 0, OPT_IO},             {"set", 1, 0, OPT_SET},
    {"sweep", 1, 0, OPT_SWEEP},       {"seeds", 1, 0, OPT_SEEDS},
    {"seed", 1, 0, OPT_SEED},         {"epochs", 1, 0, OPT_EPOCHS},
    {"batch", 1, 0, OPT_BATCH},       {"lr", 1, 0, OPT_LR},
    {"lr-schedule", 1, 0, OPT_SCHEDULE}, {"backend", 1, 0, OPT_BACKEND},
    {"threads", 1, 0, OPT_THREADS},   {"out", 1, 0, OPT_OUT},
    {"checkpoint", 1, 0, OPT_CHECKPOINT}, {"resume", 1, 0, OPT_RESUME},
    {"eval-batch", 1, 0, OPT_EVAL_BATCH}, {"progress", 1, 0, OPT_PROGRESS},
    {"quiet", 0, 0, OPT_QUIET},       {"list-fields", 0, 0, OPT_LIST_FIELDS},
    {"help", 0, 0, OPT_HELP},         {0, 0, 0, 0}};

/* The options fixed by a checkpoint. */
static int is_model_option(int c) {
  return c == OPT_TRAIN_SUBSET || c == OPT_TEST_SUBSET || c == OPT_LAYERS ||
         c == OPT_ACTIVATION || c == OPT_MAX_TILE || c == OPT_ALGORITHM || c == OPT_DEVICE ||
         c == OPT_IO || c == OPT_SET || c == OPT_SWEEP || c == OPT_SEEDS || c == OPT_SEED ||
         c == OPT_BATCH || c == OPT_LR || c == OPT_SCHEDULE;
}

static int parse_one(int c, const char *arg, options_t *o) {
  model_options_t *m = &o->model;
  run_options_t *r = &o->run;
  long long v = 0;
  int e = 0, k = 0;
  switch (c) {
    case OPT_DATA: return parse_path("data", arg, r->data);
    case OPT_TRAIN_SUBSET:
      e = parse_long("train-subset", arg, 0, TRAIN_MAX_SUBSET, &v);
      m->train_subset = v;
      return e;
    case OPT_TEST_SUBSET:
      e = parse_long("test-subset", arg, 0, TRAIN_MAX_SUBSET, &v);
      m->test_subset = v;
      return e;
    case OPT_LAYERS: return parse_layers(arg, m);
    case OPT_ACTIVATION:
      e = lookup("activation", arg, ACTIVATIONS, &k);
      m->activation = (aimc_activation_t)k;
      return e;
    case OPT_MAX_TILE: return parse_int("max-tile", arg, 1, TRAIN_MAX_TILE, &m->max_tile);
    case OPT_ALGORITHM:
      e = lookup("algorithm", arg, ALGORITHMS, &k);
      m->algorithm = (aimc_algorithm_t)k;
      return e;
    case OPT_DEVICE:
      e = lookup("device", arg, DEVICES, &k);
      m->device = (aimc_device_preset_t)k;
      return e;
    case OPT_IO: return lookup("io", arg, IOS, &m->io);
    case OPT_SET: return parse_set(arg, m);
    case OPT_SWEEP: return parse_sweep(arg, m);
    case OPT_SEEDS: return parse_int("seeds", arg, 1, TRAIN_MAX_SEEDS, &m->seeds);
    case OPT_SEED:
      e = parse_long("seed", arg, 0, TRAIN_MAX_SEED, &v);
      m->seed = (uint64_t)v;
      return e;
    case OPT_EPOCHS: return parse_int("epochs", arg, 1, TRAIN_MAX_EPOCHS, &r->epochs);
    case OPT_BATCH: return parse_int("batch", arg, 1, TRAIN_MAX_BATCH, &m->batch);
    case OPT_LR: return parse_float("lr", arg, 0.0, TRAIN_MAX_LR, 0, &m->lr);
    case OPT_SCHEDULE: return parse_schedule(arg, m);
    case OPT_BACKEND:
      e = lookup("backend", arg, BACKENDS, &k);
      r->backend = (aimc_backend_t)k;
      return e;
    case OPT_THREADS: return parse_int("threads", arg, 0, 4096, &r->threads);
    case OPT_OUT: return parse_path("out", arg, r->out);
    case OPT_CHECKPOINT: return parse_path("checkpoint", arg, r->checkpoint);
    case OPT_RESUME: return parse_path("resume", arg, r->resume);
    case OPT_EVAL_BATCH: return parse_int("eval-batch", arg, 1, 1 << 20, &r->eval_batch);
    case OPT_PROGRESS: {
      static const named_t modes[] = {{"auto", -1}, {"lines", 0}, {"bar", 1}, {NULL, 0}};
      return lookup("progress", arg, modes, &r->progress);
    }
    case OPT_QUIET: r->quiet = 1; return 0;
    default: return 2;
  }
}

int options_parse(int argc, char **argv, options_t *o) {
  defaults(o);
  int c, idx;
  opterr = 1;
  while ((c = getopt_long(argc, argv, "", LONGS, &idx)) != -1) {
    if (c == OPT_HELP) {
      options_usage(stdout);
      return 1;
    }
    if (c == OPT_LIST_FIELDS) {
      list_fields();
      return 1;
    }
    if (c == '?') {
      fprintf(stderr, "aimc-train: see --help\n");
      return 2;
    }
    if (is_model_option(c) && !o->model_given) {
      o->model_given = 1;
      snprintf(o->first_model_option, sizeof o->first_model_option, "--%s", LONGS[idx].name);
    }
    if (parse_one(c, optarg, o)) return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "aimc-train: unexpected argument '%s' (see --help)\n", argv[optind]);
    return 2;
  }
  if (o->run.resume[0] && o->model_given) {
    fprintf(stderr,
            "aimc-train: %s cannot be combined with --resume: the checkpoint fixes the network "
            "and its training\n",
            o->first_model_option);
    return 2;
  }
  return 0;
}

/* ---- From options to a network ------------------------------------------------ */

static int has_preset(aimc_algorithm_t a) {
  return a == AIMC_ALGO_SGD || a == AIMC_ALGO_MIXED_PRECISION || a == AIMC_ALGO_TIKI_TAKA ||
         a == AIMC_ALGO_TTV2 || a == AIMC_ALGO_CHOPPED_TTV2 || a == AIMC_ALGO_AGAD;
}

int options_tile_config(const model_options_t *m, aimc_tile_config_t *cfg) {
  aimc_status_t s;
  if (has_preset(m->algorithm)) {
    s = aimc_tile_config_preset(cfg, m->algorithm, m->device);
  } else { /* float SGD, STELLAR, PANTHER: the device preset with the algorithm's defaults */
    aimc_tile_config_default(cfg);
    s = aimc_device_desc_preset(&cfg->device, m->device);
    if (s == AIMC_OK) {
      cfg->fast_device = cfg->device;
      s = aimc_tile_config_algorithm(cfg, m->algorithm);
    }
  }
  int io = m->io >= 0 ? m->io : m->algorithm == AIMC_ALGO_FLOAT_SGD ? AIMC_IO_PERFECT : -1;
  if (s == AIMC_OK && io >= 0) s = aimc_tile_config_io_preset(cfg, (aimc_io_preset_t)io);
  if (s != AIMC_OK) {
    fprintf(stderr, "aimc-train: --algorithm %s --device %s: %s\n",
            options_algorithm_key(m->algorithm), options_device_key(m->device), aimc_last_error());
    return 2;
  }
  for (int32_t k = 0; k < m->n_sets; ++k)
    if (aimc_tile_config_set(cfg, m->sets[k].field, m->sets[k].value) != AIMC_OK) {
      fprintf(stderr, "aimc-train: --set %s=%g: %s\n", m->sets[k].field, m->sets[k].value,
              aimc_last_error());
      return 2;
    }
  return 0;
}

int options_network_desc(const model_options_t *m, aimc_network_desc_t *d) {
  aimc_tile_config_t cfg;
  if (options_tile_config(m, &cfg)) return 2;
  if (aimc_network_desc_mlp(d, m->n_sizes, m->sizes, m->activation, &cfg) != AIMC_OK) {
    fprintf(stderr, "aimc-train: --layers: %s\n", aimc_last_error());
    return 2;
  }
  d->max_tile_size = m->max_tile;
  d->seeds = m->seeds;
  d->seed = m->seed;
  d->learning_rate = m->lr;
  d->n_sweeps = m->n_sweeps;
  for (int32_t s = 0; s < m->n_sweeps; ++s) d->sweeps[s] = m->sweeps[s];
  if (m->schedule != SCHEDULE_CONSTANT)
    for (int32_t s = 0; s < m->n_sweeps; ++s)
      if (!strcmp(m->sweeps[s].field, "update.learning_rate")) {
        fprintf(stderr, "aimc-train: --sweep update.learning_rate needs --lr-schedule constant "
                        "(a schedule sets one rate for every replica)\n");
        return 2;
      }
  return 0;
}

float options_learning_rate(const model_options_t *m, int32_t epoch, int32_t epochs) {
  switch (m->schedule) {
    case SCHEDULE_STEP: return m->lr * powf(m->step_factor, (float)(epoch / m->step_every));
    case SCHEDULE_COSINE:
      return m->lr * 0.5f * (1.0f + cosf(3.14159265f * (float)epoch / (float)epochs));
    default: return m->lr;
  }
}
