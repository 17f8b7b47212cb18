/* The state of one tile batch as a block of host memory, for callers that
 * keep their own files (the Python package's state_dict): every bit a
 * network checkpoint holds for a layer (host/checkpoint.c), so a batch
 * rebuilt from the block continues bit for bit.
 *
 * Block: header {magic "AIMCTILE", format, library version, struct sizes,
 * blob count, crc32 of the body, body length}, then the body: the tiles
 * record of host/checkpoint_format.h, the per-tile configs, the per-tile
 * keys, and each state blob (weights, device states and parameters,
 * algorithm buffers, choppers, counters, statistics) as {uint64 length,
 * bytes}. Numbers in the machine's byte order; the struct sizes refuse
 * blocks from a different build layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "host/checkpoint_format.h"

#define TILES_MAGIC "AIMCTILE"
#define TILES_FORMAT 1u

typedef struct tiles_block_header {
  char magic[8];
  uint32_t format, library_version;
  uint32_t config_size, counters_size, algo_state_size, stats_size;
  uint32_t n_blobs, crc;
  uint64_t body_len;
} tiles_block_header_t;

static size_t body_size(const aimc_tiles_t *t, const aimc_blob_t *blobs, int nb) {
  size_t n = (size_t)t->st.n_tiles;
  size_t bytes = sizeof(tiles_record_t) + n * (sizeof(aimc_tile_config_t) + sizeof(uint64_t));
  for (int b = 0; b < nb; ++b) bytes += sizeof(uint64_t) + blobs[b].bytes;
  return bytes;
}

static char *put(char *p, const void *src, size_t n) {
  memcpy(p, src, n);
  return p + n;
}

/* Writes the body into p (host memory of body_size bytes). */
static aimc_status_t write_body(const aimc_tiles_t *t, const aimc_blob_t *blobs, int nb, char *p) {
  int64_t n = t->st.n_tiles;
  tiles_record_t tr;
  memset(&tr, 0, sizeof tr);
  tr.counters = t->counters, tr.seed = t->seed, tr.n_tiles = n;
  tr.rows = t->st.rows, tr.cols = t->st.cols, tr.n_arrays = t->st.n_arrays, tr.n_blobs = nb;
  p = put(p, &tr, sizeof tr);
  p = put(p, t->configs, (size_t)n * sizeof *t->configs);
  for (int64_t k = 0; k < n; ++k) p = put(p, &t->hparams[k].key, sizeof(uint64_t));
  for (int b = 0; b < nb; ++b) {
    uint64_t len = blobs[b].bytes;
    p = put(p, &len, sizeof len);
    aimc_status_t s = t->ctx->ops->copy(t->ctx, p, blobs[b].ptr, blobs[b].bytes,
                                        AIMC_COPY_CONTEXT_TO_HOST);
    if (s != AIMC_OK) return s;
    p += blobs[b].bytes;
  }
  return AIMC_OK;
}

aimc_status_t aimc_tiles_save_state(const aimc_tiles_t *tiles, void *buf, size_t cap, size_t *len) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!len) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "len is NULL");
  aimc_blob_t blobs[AIMC_MAX_BLOBS];
  int nb = aimc_tiles_state_blobs(tiles, blobs);
  size_t body = body_size(tiles, blobs, nb), need = sizeof(tiles_block_header_t) + body;
  *len = need;
  if (!buf) return AIMC_OK; /* the size query */
  if (cap < need)
    return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "cap = %zu is too small: the state needs %zu bytes", cap, need);
  tiles_block_header_t h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, TILES_MAGIC, 8);
  h.format = TILES_FORMAT, h.library_version = AIMC_VERSION;
  h.config_size = sizeof(aimc_tile_config_t), h.counters_size = sizeof(aimc_counters_t);
  h.algo_state_size = sizeof(aimc_algo_state_t), h.stats_size = sizeof(aimc_tile_stats_t);
  h.n_blobs = (uint32_t)nb, h.body_len = body;
  char *p = (char *)buf + sizeof h;
  aimc_status_t s = write_body(tiles, blobs, nb, p);
  if (s != AIMC_OK) return s;
  h.crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef *)p, body);
  memcpy(buf, &h, sizeof h);
  return AIMC_OK;
}

static aimc_status_t corrupt(aimc_context_t *ctx, const char *why) {
  return aimc_error(ctx, AIMC_ERR_CORRUPT, "tile state block: %s", why);
}

static aimc_status_t check_header(aimc_context_t *ctx, const char *buf, size_t len,
                                  tiles_block_header_t *h) {
  if (len < sizeof *h) return corrupt(ctx, "shorter than its header");
  memcpy(h, buf, sizeof *h);
  if (memcmp(h->magic, TILES_MAGIC, 8) != 0) return corrupt(ctx, "bad magic (not an aimc tile state)");
  if (h->format != TILES_FORMAT) return corrupt(ctx, "format version differs from this library's");
  if (h->config_size != sizeof(aimc_tile_config_t) || h->counters_size != sizeof(aimc_counters_t) ||
      h->algo_state_size != sizeof(aimc_algo_state_t) ||
      h->stats_size != sizeof(aimc_tile_stats_t))
    return corrupt(ctx, "written by a build with a different data layout");
  if (h->body_len != len - sizeof *h) return corrupt(ctx, "length differs from the header's");
  uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef *)buf + sizeof *h,
                                   (size_t)h->body_len);
  if (crc != h->crc) return corrupt(ctx, "checksum mismatch: the block is corrupt");
  return AIMC_OK;
}

/* Fills the freshly created batch t from the body's blobs (after the keys). */
static aimc_status_t read_blobs(aimc_tiles_t *t, const char *p, const char *end,
                                uint32_t n_blobs) {
  aimc_blob_t blobs[AIMC_MAX_BLOBS];
  int nb = aimc_tiles_state_blobs(t, blobs);
  if ((uint32_t)nb != n_blobs) return corrupt(t->ctx, "blob count does not match the tiles");
  for (int b = 0; b < nb; ++b) {
    uint64_t bl;
    if ((size_t)(end - p) < sizeof bl) return corrupt(t->ctx, "truncated");
    memcpy(&bl, p, sizeof bl);
    p += sizeof bl;
    if (bl != blobs[b].bytes || (size_t)(end - p) < bl)
      return corrupt(t->ctx, "a state buffer's size does not match the tiles");
    /* blobs sit at any byte offset of the block: checked in an aligned copy */
    void *host = malloc(bl ? (size_t)bl : 1);
    if (!host) return aimc_error(t->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(host, p, (size_t)bl);
    const char *why = NULL;
    aimc_status_t s = aimc_tiles_blob_valid(t, &blobs[b], host, &why)
                          ? t->ctx->ops->copy(t->ctx, blobs[b].ptr, host, blobs[b].bytes,
                                              AIMC_COPY_HOST_TO_CONTEXT)
                          : corrupt(t->ctx, why);
    free(host);
    if (s != AIMC_OK) return s;
    p += bl;
  }
  return p == end ? AIMC_OK : corrupt(t->ctx, "trailing bytes");
}

/* Rebuilds the batch: the saved configs and per-tile keys redraw nothing new
 * (the device parameters are then overwritten by the saved ones anyway). */
static aimc_status_t rebuild(aimc_context_t *ctx, const char *body, const char *end,
                             uint32_t n_blobs, aimc_tiles_t **out) {
  tiles_record_t tr;
  if ((size_t)(end - body) < sizeof tr) return corrupt(ctx, "truncated");
  memcpy(&tr, body, sizeof tr);
  if (tr.n_tiles < 1 || tr.rows < 1 || tr.cols < 1 || tr.n_blobs != (int32_t)n_blobs)
    return corrupt(ctx, "invalid tiles record");
  size_t n = (size_t)tr.n_tiles;
  if ((size_t)(end - body) - sizeof tr < n * (sizeof(aimc_tile_config_t) + sizeof(uint64_t)))
    return corrupt(ctx, "truncated");
  aimc_tile_config_t *cfgs = malloc(n * sizeof *cfgs);
  uint64_t *keys = malloc(n * sizeof *keys);
  float *rates = malloc(n * sizeof *rates);
  aimc_status_t s = AIMC_OK;
  if (!cfgs || !keys || !rates) s = aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
  const char *p = body + sizeof tr;
  aimc_tiles_t *t = NULL;
  if (s == AIMC_OK) {
    memcpy(cfgs, p, n * sizeof *cfgs);
    p += n * sizeof *cfgs;
    memcpy(keys, p, n * sizeof *keys);
    p += n * sizeof *keys;
    for (size_t k = 0; k < n; ++k) rates[k] = cfgs[k].update.learning_rate;
    aimc_tiles_desc_t td;
    aimc_tiles_desc_default(&td);
    td.n_tiles = tr.n_tiles, td.rows = tr.rows, td.cols = tr.cols;
    td.per_tile = cfgs, td.tile_seeds = keys, td.seed = tr.seed;
    s = aimc_tiles_create(ctx, &td, &t);
    if (s != AIMC_OK) { /* configs the library refuses: the block is corrupt */
      char why[AIMC_ERROR_LEN];
      snprintf(why, sizeof why, "%s", ctx->last_error);
      s = corrupt(ctx, why);
    }
  }
  if (s == AIMC_OK && t->st.n_arrays != tr.n_arrays) s = corrupt(ctx, "array count differs");
  if (s == AIMC_OK) s = aimc_tiles_set_learning_rates(t, rates);
  if (s == AIMC_OK) s = read_blobs(t, p, end, n_blobs);
  if (s == AIMC_OK) {
    t->counters = tr.counters;
    t->seed = tr.seed;
    *out = t;
  } else {
    aimc_tiles_destroy(t);
  }
  free(cfgs), free(keys), free(rates);
  return s;
}

aimc_status_t aimc_tiles_load_state(aimc_context_t *ctx, const void *buf, size_t len,
                                    aimc_tiles_t **tiles) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!buf) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "buf is NULL");
  if (!tiles) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  tiles_block_header_t h;
  aimc_status_t s = check_header(ctx, buf, len, &h);
  if (s != AIMC_OK) return s;
  const char *body = (const char *)buf + sizeof h;
  return rebuild(ctx, body, body + h.body_len, h.n_blobs, tiles);
}
