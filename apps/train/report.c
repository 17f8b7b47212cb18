/* aimc-train: progress, summaries, result files and the plot. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, fileno, isatty, fdopen, fork, sigaction */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

int history_init(history_t *h, int32_t replicas, int32_t cap) {
  h->replicas = replicas, h->epochs = 0, h->cap = cap;
  h->epoch = calloc((size_t)cap, sizeof *h->epoch);
  h->rep = calloc((size_t)cap * (size_t)replicas, sizeof *h->rep);
  h->train_seconds = malloc((size_t)cap * sizeof *h->train_seconds);
  h->train_cpu_seconds = malloc((size_t)cap * sizeof *h->train_cpu_seconds);
  for (int32_t e = 0; h->train_seconds && h->train_cpu_seconds && e < cap; ++e)
    h->train_seconds[e] = h->train_cpu_seconds[e] = NAN;
  return h->epoch && h->rep && h->train_seconds && h->train_cpu_seconds;
}

void history_free(history_t *h) {
  free(h->epoch);
  free(h->rep);
  free(h->train_seconds);
  free(h->train_cpu_seconds);
  memset(h, 0, sizeof *h);
}

double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- Progress ------------------------------------------------------------------- */

static void clock_text(double s, char *out, size_t cap) {
  int v = s > 0 && s < 1e8 ? (int)(s + 0.5) : 0;
  if (v >= 3600)
    snprintf(out, cap, "%d:%02d:%02d", v / 3600, v / 60 % 60, v % 60);
  else
    snprintf(out, cap, "%d:%02d", v / 60, v % 60);
}

void progress_start(progress_t *p, const run_options_t *r, int32_t epoch, int32_t epochs,
                    int64_t total, double later_epochs_seconds) {
  memset(p, 0, sizeof *p);
  p->bar = r->progress < 0 ? isatty(fileno(stderr)) : r->progress;
  p->quiet = r->quiet;
  p->epoch = epoch, p->epochs = epochs, p->total = total;
  p->start = now_seconds();
  p->run_rest = later_epochs_seconds;
}

void progress_update(progress_t *p, int64_t done, float loss) {
  if (p->quiet) return;
  p->done = done;
  double t = now_seconds(), el = t - p->start;
  double rate = el > 0 ? (double)done / el : 0.0;
  double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
  char e1[32], e2[32];
  clock_text(eta, e1, sizeof e1);
  clock_text(eta + p->run_rest, e2, sizeof e2);
  if (p->bar) {
    if (t - p->last_draw < 0.2 && done < p->total) return;
    p->last_draw = t;
    int width = 28, fill = p->total ? (int)((double)width * (double)done / (double)p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; ++i) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %3d%% %lld/%lld  %.0f samples/s  loss %.4f  ETA %s"
                    " (run %s)",
            p->epoch + 1, p->epochs, bar, (int)(100.0 * (double)done / (double)p->total),
            (long long)done, (long long)p->total, rate, (double)loss, e1, e2);
    fflush(stderr);
    return;
  }
  int tenths = p->total ? (int)(10 * done / p->total) : 10;
  if (tenths <= p->tenths) return;
  p->tenths = tenths;
  fprintf(stderr, "epoch %d/%d: %3d%%  %lld/%lld samples  %.0f samples/s  loss %.4f  ETA %s (run %s)\n",
          p->epoch + 1, p->epochs, 10 * tenths, (long long)done, (long long)p->total, rate,
          (double)loss, e1, e2);
}

void progress_phase(progress_t *p, const char *what) {
  if (p->quiet) return;
  if (p->bar)
    fprintf(stderr, "\r\033[Kepoch %d/%d: %s", p->epoch + 1, p->epochs, what);
  else
    fprintf(stderr, "epoch %d/%d: %s\n", p->epoch + 1, p->epochs, what);
  fflush(stderr);
}

void progress_end(progress_t *p) {
  if (!p->quiet && p->bar) fprintf(stderr, "\r\033[K");
}

/* ---- Statistics over a configuration's replicas ------------------------------- */

typedef struct stats {
  double mean, sd, min, max;
} stats_t;

/* Field f (0 loss, 1 accuracy, 2 pulses per weight) of configuration c's replicas at epoch e. */
static stats_t config_stats(const run_info_t *info, const history_t *h, int32_t e, int32_t c,
                            int f) {
  int32_t seeds = info->opt->model.seeds;
  stats_t s = {0, 0, INFINITY, -INFINITY};
  for (int32_t k = c * seeds; k < (c + 1) * seeds; ++k) {
    const replica_result_t *r = &h->rep[(size_t)e * (size_t)h->replicas + (size_t)k];
    double v = f == 0 ? r->loss : f == 1 ? r->accuracy : r->pulses_per_weight;
    s.mean += v / seeds;
    s.min = fmin(s.min, v);
    s.max = fmax(s.max, v);
  }
  for (int32_t k = c * seeds; seeds > 1 && k < (c + 1) * seeds; ++k) {
    const replica_result_t *r = &h->rep[(size_t)e * (size_t)h->replicas + (size_t)k];
    double v = f == 0 ? r->loss : f == 1 ? r->accuracy : r->pulses_per_weight;
    s.sd += (v - s.mean) * (v - s.mean) / (seeds - 1);
  }
  s.sd = sqrt(s.sd);
  return s;
}

void report_epoch(const run_info_t *info, const history_t *h, int32_t e) {
  if (info->opt->run.quiet) return;
  const epoch_result_t *er = &h->epoch[e];
  for (int32_t c = 0; c < info->n_configs; ++c) {
    stats_t loss = config_stats(info, h, e, c, 0), acc = config_stats(info, h, e, c, 1);
    stats_t pw = config_stats(info, h, e, c, 2);
    fprintf(stderr, "epoch %d/%d %s%s lr %.4g  loss %.4f  test accuracy %.2f +- %.2f %%  "
                    "pulses/weight %.3g  (%.1f s)\n",
            e + 1, info->opt->run.epochs, info->configs[c].label, info->n_configs > 1 ? " " : "",
            (double)er->lr, loss.mean, acc.mean, acc.sd, pw.mean, er->seconds);
  }
}

/* ---- Files ------------------------------------------------------------------------ */

/* Opens <out>/<name>.tmp; close_atomic renames it into place. */
static FILE *open_tmp(const run_info_t *info, const char *name, char *tmp, size_t cap) {
  snprintf(tmp, cap, "%s/%s.tmp", info->opt->run.out, name);
  FILE *f = fopen(tmp, "w");
  if (!f) fprintf(stderr, "aimc-train: cannot write %s (%s)\n", tmp, strerror(errno));
  return f;
}

static int close_atomic(FILE *f, const char *tmp, const run_info_t *info, const char *name) {
  char path[TRAIN_PATH_LEN + 64];
  snprintf(path, sizeof path, "%s/%s", info->opt->run.out, name);
  int bad = ferror(f);
  bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    fprintf(stderr, "aimc-train: cannot write %s (%s)\n", path, strerror(errno));
    unlink(tmp);
    return 2;
  }
  return 0;
}

/* A number for JSON: non-finite values (which JSON cannot hold) become null. */
static void json_number(FILE *f, const char *fmt, double v) {
  if (isfinite(v))
    fprintf(f, fmt, v);
  else
    fputs("null", f);
}

/* "key": number, after sep. */
static void json_field(FILE *f, const char *sep, const char *key, const char *fmt, double v) {
  fprintf(f, "%s\"%s\": ", sep, key);
  json_number(f, fmt, v);
}

/* A CSV cell: a non-finite value is left empty (missing), never "nan". */
static void csv_number(FILE *f, const char *fmt, double v) {
  fputc(',', f);
  if (isfinite(v)) fprintf(f, fmt, v);
}

static int write_csv(const run_info_t *info, const history_t *h) {
  char tmp[TRAIN_PATH_LEN + 64];
  FILE *f = open_tmp(info, "results.csv", tmp, sizeof tmp);
  if (!f) return 2;
  const model_options_t *m = &info->opt->model;
  fprintf(f, "epoch,replica,configuration,seed_index");
  for (int32_t s = 0; s < m->n_sweeps; ++s) fprintf(f, ",%s", m->sweeps[s].field);
  fprintf(f, ",lr,train_loss,test_accuracy,pulses_per_weight,epoch_seconds\n");
  for (int32_t e = 0; e < h->epochs; ++e)
    for (int32_t k = 0; k < h->replicas; ++k) {
      const replica_result_t *r = &h->rep[(size_t)e * (size_t)h->replicas + (size_t)k];
      int32_t c = k / m->seeds;
      fprintf(f, "%d,%d,%d,%d", e + 1, k, c, k % m->seeds);
      for (int32_t s = 0; s < m->n_sweeps; ++s) csv_number(f, "%.9g", info->configs[c].values[s]);
      csv_number(f, "%.9g", (double)h->epoch[e].lr);
      csv_number(f, "%.6f", (double)r->loss);
      csv_number(f, "%.4f", (double)r->accuracy);
      csv_number(f, "%.6g", (double)r->pulses_per_weight);
      csv_number(f, "%.3f", h->epoch[e].seconds);
      fputc('\n', f);
    }
  return close_atomic(f, tmp, info, "results.csv");
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void json_options(FILE *f, const options_t *o) {
  const model_options_t *m = &o->model;
  fprintf(f, "  \"options\": {\"layers\": [");
  for (int32_t i = 0; i < m->n_sizes; ++i) fprintf(f, "%s%d", i ? ", " : "", m->sizes[i]);
  fprintf(f, "], \"activation\": \"%s\", \"algorithm\": \"%s\", \"device\": \"%s\", \"io\": %d,\n",
          options_activation_key(m->activation), options_algorithm_key(m->algorithm),
          options_device_key(m->device), m->io);
  fprintf(f, "    \"set\": {");
  for (int32_t s = 0; s < m->n_sets; ++s) {
    fprintf(f, "%s", s ? ", " : "");
    json_string(f, m->sets[s].field);
    fputs(": ", f);
    json_number(f, "%.9g", m->sets[s].value);
  }
  fprintf(f, "}, \"seeds\": %d, \"seed\": %llu, \"max_tile\": %d, \"batch\": %d",
          m->seeds, (unsigned long long)m->seed, m->max_tile, m->batch);
  json_field(f, ", ", "lr", "%.9g", (double)m->lr);
  fprintf(f, ",\n    \"lr_schedule\": \"%s\", \"step_every\": %d",
          m->schedule == SCHEDULE_STEP ? "step" : m->schedule == SCHEDULE_COSINE ? "cosine" : "constant",
          m->step_every);
  json_field(f, ", ", "step_factor", "%.9g", (double)m->step_factor);
  fprintf(f, ", \"epochs\": %d, \"train_subset\": %lld, \"test_subset\": %lld,\n",
          o->run.epochs, (long long)m->train_subset, (long long)m->test_subset);
  fprintf(f, "    \"data\": ");
  json_string(f, o->run.data);
  fprintf(f, ", \"threads\": %d},\n", o->run.threads);
}

static int write_json(const run_info_t *info, const history_t *h) {
  char tmp[TRAIN_PATH_LEN + 64];
  FILE *f = open_tmp(info, "results.json", tmp, sizeof tmp);
  if (!f) return 2;
  fprintf(f, "{\n  \"program\": \"aimc-train\", \"library_version\": \"%s\",\n  \"command\": ",
          aimc_version_string());
  json_string(f, info->command);
  fprintf(f, ",\n  \"backend\": \"%s\", \"machine\": ", info->backend);
  json_string(f, info->machine);
  fprintf(f, ",\n  \"train_samples\": %lld, \"test_samples\": %lld, \"replicas\": %d, "
             "\"analog_weights_per_replica\": %llu,\n",
          (long long)info->train_samples, (long long)info->test_samples, info->replicas,
          (unsigned long long)info->weights);
  fprintf(f, "  \"stopped\": ");
  if (info->stopped && info->stopped[0])
    json_string(f, info->stopped);
  else
    fputs("null", f);
  fprintf(f, ",\n");
  json_options(f, info->opt);
  fprintf(f, "  \"configurations\": [");
  for (int32_t c = 0; c < info->n_configs; ++c) {
    fprintf(f, "%s\n    {\"label\": ", c ? "," : "");
    json_string(f, info->configs[c].label);
    fprintf(f, ", \"replicas\": [%d, %d]}", c * info->opt->model.seeds,
            (c + 1) * info->opt->model.seeds - 1);
  }
  fprintf(f, "\n  ],\n  \"epochs\": [");
  for (int32_t e = 0; e < h->epochs; ++e) {
    fprintf(f, "%s\n    {\"epoch\": %d", e ? "," : "", e + 1);
    json_field(f, ", ", "lr", "%.9g", (double)h->epoch[e].lr);
    json_field(f, ", ", "seconds", "%.3f", h->epoch[e].seconds);
    /* the training loop alone, for speed comparisons (bench/run_cpu_vs_aihwkit.sh) */
    double ts = h->train_seconds[e];
    json_field(f, ", ", "train_seconds", "%.6f", ts);
    json_field(f, ", ", "train_samples_per_second", "%.3f",
               ts > 0.0 ? (double)info->train_samples / ts : NAN);
    /* on a shared machine a one-thread run's CPU time is the steadier measure */
    json_field(f, ", ", "train_cpu_seconds", "%.6f", h->train_cpu_seconds[e]);
    fprintf(f, ", \"configurations\": [");
    for (int32_t c = 0; c < info->n_configs; ++c) {
      stats_t a = config_stats(info, h, e, c, 1), l = config_stats(info, h, e, c, 0);
      stats_t p = config_stats(info, h, e, c, 2);
      json_field(f, c ? ", {" : "{", "accuracy_mean", "%.4f", a.mean);
      json_field(f, ", ", "accuracy_sd", "%.4f", a.sd);
      json_field(f, ", ", "accuracy_min", "%.4f", a.min);
      json_field(f, ", ", "accuracy_max", "%.4f", a.max);
      json_field(f, ", ", "loss_mean", "%.6f", l.mean);
      json_field(f, ", ", "pulses_per_weight", "%.6g", p.mean);
      fputc('}', f);
    }
    fprintf(f, "],\n     \"replicas\": [");
    for (int32_t k = 0; k < h->replicas; ++k) {
      const replica_result_t *r = &h->rep[(size_t)e * (size_t)h->replicas + (size_t)k];
      json_field(f, k ? ", {" : "{", "loss", "%.6f", (double)r->loss);
      json_field(f, ", ", "accuracy", "%.4f", (double)r->accuracy);
      json_field(f, ", ", "pulses_per_weight", "%.6g", (double)r->pulses_per_weight);
      fputc('}', f);
    }
    fprintf(f, "]}");
  }
  fprintf(f, "\n  ]\n}\n");
  return close_atomic(f, tmp, info, "results.json");
}

int report_files(const run_info_t *info, const history_t *h) {
  int rc = write_csv(info, h);
  return write_json(info, h) || rc;
}

/* ---- Plot ------------------------------------------------------------------------- */

static int have_gnuplot(void) {
  return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* A configuration label as a gnuplot title: only characters that are plain
 * text inside a single-quoted gnuplot string (others become '?'), so that a
 * label can never end the string. */
static void plot_title(const char *label, char *out, size_t cap) {
  size_t n = 0;
  for (; *label && n + 1 < cap; ++label) {
    char c = *label;
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                strchr(" .,=+-_()", c) != NULL;
    out[n++] = plain ? c : '?';
  }
  out[n] = '\0';
}

/* The gnuplot script: fixed relative file names only (gnuplot runs in the
 * output folder), so no path is ever parsed by gnuplot. */
static void plot_script(FILE *g, const run_info_t *info) {
  fprintf(g, "set terminal pngcairo noenhanced size 900,560 font ',11'\n"
             "set output 'accuracy.png'\n");
  fprintf(g, "set title 'aimc-train: %s on %s, %d seeds per configuration'\n",
          options_algorithm_key(info->opt->model.algorithm),
          options_device_key(info->opt->model.device), info->opt->model.seeds);
  fprintf(g, "set xlabel 'epoch'\nset ylabel 'test accuracy (%%), mean and spread over seeds'\n"
             "set key bottom right\nset grid\nset xtics 1\n");
  fprintf(g, "plot ");
  for (int32_t c = 0; c < info->n_configs; ++c) {
    char title[200];
    plot_title(info->configs[c].label, title, sizeof title);
    fprintf(g, "%s'accuracy.dat' index %d using 1:2:3 with yerrorlines title '%s'", c ? ", " : "",
            c, title);
  }
  fprintf(g, "\n");
}

/* Runs gnuplot with `dir` as its working directory and the script on its
 * standard input (no shell: the folder name reaches only chdir). 0 when
 * gnuplot succeeded. */
static int run_gnuplot(const char *dir, const run_info_t *info) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[1]);
    if (dup2(fds[0], STDIN_FILENO) < 0 || chdir(dir) != 0) _exit(126);
    close(fds[0]);
    execlp("gnuplot", "gnuplot", (char *)NULL);
    _exit(127);
  }
  close(fds[0]);
  /* a gnuplot that exits early must not kill the trainer with SIGPIPE */
  struct sigaction ignore, old;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old);
  FILE *g = fdopen(fds[1], "w");
  if (g) {
    plot_script(g, info);
    fclose(g);
  } else {
    close(fds[1]);
  }
  sigaction(SIGPIPE, &old, NULL);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && g ? 0 : -1;
}

void report_plot(const run_info_t *info, const history_t *h) {
  const char *out = info->opt->run.out;
  if (!have_gnuplot()) {
    printf("plot skipped: gnuplot is not installed (apt-get install gnuplot-nox); the numbers "
           "are in %s/results.csv\n", out);
    return;
  }
  char dat[TRAIN_PATH_LEN + 64];
  snprintf(dat, sizeof dat, "%s/accuracy.dat", out);
  FILE *f = fopen(dat, "w");
  if (!f) {
    printf("plot skipped: cannot write %s (%s)\n", dat, strerror(errno));
    return;
  }
  for (int32_t c = 0; c < info->n_configs; ++c) { /* one gnuplot data block per configuration */
    fprintf(f, "# configuration %d\n", c);
    for (int32_t e = 0; e < h->epochs; ++e) {
      stats_t a = config_stats(info, h, e, c, 1);
      fprintf(f, "%d %.4f %.4f\n", e + 1, a.mean, a.sd);
    }
    fprintf(f, "\n\n");
  }
  if (fclose(f) != 0) {
    printf("plot skipped: cannot write %s (%s)\n", dat, strerror(errno));
    return;
  }
  if (run_gnuplot(out, info) == 0)
    printf("plot: %s/accuracy.png\n", out);
  else
    printf("plot skipped: gnuplot failed (see above)\n");
}

/* ---- Final table ------------------------------------------------------------------ */

void report_table(const run_info_t *info, const history_t *h) {
  if (h->epochs == 0) return;
  int32_t e = h->epochs - 1;
  double total = 0;
  for (int32_t q = 0; q < h->epochs; ++q) total += h->epoch[q].seconds;
  printf("\naimc-train: %s on %s, layers", options_algorithm_key(info->opt->model.algorithm),
         options_device_key(info->opt->model.device));
  for (int32_t i = 0; i < info->opt->model.n_sizes; ++i)
    printf("%s%d", i ? "-" : " ", info->opt->model.sizes[i]);
  printf(", %d epochs, %lld training samples, %lld test samples, backend %s, %.0f s\n", h->epochs,
         (long long)info->train_samples, (long long)info->test_samples, info->backend, total);
  int w = 13;
  for (int32_t c = 0; c < info->n_configs; ++c) {
    int n = (int)strlen(info->configs[c].label);
    if (n > w) w = n;
  }
  printf("\n%-*s  %5s  %16s  %7s  %7s  %10s  %13s\n", w, "configuration", "seeds",
         "test acc. (%)", "min", "max", "train loss", "pulses/weight");
  for (int32_t c = 0; c < info->n_configs; ++c) {
    stats_t a = config_stats(info, h, e, c, 1), l = config_stats(info, h, e, c, 0);
    stats_t p = config_stats(info, h, e, c, 2);
    char acc[32];
    snprintf(acc, sizeof acc, "%.2f +- %.2f", a.mean, a.sd);
    printf("%-*s  %5d  %16s  %7.2f  %7.2f  %10.4f  %13.4g\n", w, info->configs[c].label,
           info->opt->model.seeds, acc, a.min, a.max, l.mean, p.mean);
  }
  printf("\nresults: %s/results.csv, %s/results.json\n", info->opt->run.out, info->opt->run.out);
}
