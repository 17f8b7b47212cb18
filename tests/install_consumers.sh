#!/usr/bin/env bash
# Installs aimc from a build tree into a scratch prefix, then builds and runs
# three consumers: CMake find_package (shared and static) and pkg-config.
set -euo pipefail
build=$1
work=$2
rm -rf "$work"
mkdir -p "$work/src"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cat > "$work/src/main.c" <<'C'
#include <stdio.h>
#include "aimc.h"
int main(void) {
  if (aimc_version() != AIMC_VERSION) { fprintf(stderr, "version mismatch\n"); return 1; }
  aimc_context_desc_t cd; aimc_context_desc_default(&cd); cd.backend = AIMC_BACKEND_CPU;
  aimc_context_t *ctx;
  if (aimc_context_create(&ctx, &cd) != AIMC_OK) return 1;
  aimc_tiles_desc_t td; aimc_tiles_desc_default(&td); td.rows = 2; td.cols = 3;
  aimc_tile_config_io_preset(&td.config, AIMC_IO_PERFECT);
  aimc_tiles_t *t;
  if (aimc_tiles_create(ctx, &td, &t) != AIMC_OK) return 1;
  float w[6] = {1, 2, 3, 4, 5, 6}, x[3] = {1, 0, -1}, y[2];
  if (aimc_tiles_set_weights(t, w) || aimc_tiles_forward(t, x, y, 1)) return 1;
  aimc_tiles_destroy(t); aimc_context_destroy(ctx);
  if (y[0] != -2.0f || y[1] != -2.0f) { fprintf(stderr, "wrong result %g %g\n", y[0], y[1]); return 1; }
  printf("aimc %s consumer ok\n", aimc_version_string());
  return 0;
}
C
cat > "$work/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(aimc 0.1 REQUIRED)
add_executable(consumer_shared main.c)
target_link_libraries(consumer_shared PRIVATE aimc::aimc)
add_executable(consumer_static main.c)
target_link_libraries(consumer_static PRIVATE aimc::aimc_static)
CM
cmake -S "$work/src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/cm/consumer_shared"
"$work/cm/consumer_static"
pc_dir=$(dirname "$(find "$work/prefix" -name aimc.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs aimc)
libdir=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --variable=libdir aimc)
# shellcheck disable=SC2086
cc "$work/src/main.c" -o "$work/consumer_pc" $flags -Wl,-rpath,"$libdir"
"$work/consumer_pc"
# Installed programs find the library of their prefix (an $ORIGIN run path),
# with no LD_LIBRARY_PATH, wherever the prefix is.
env -u LD_LIBRARY_PATH "$work/prefix/bin/aimc-train" --help >/dev/null
echo "installed aimc-train starts"
# The installed Python package (CMake installs python/aimc) finds the same
# prefix's library; torch is not needed to import aimc.
pkg_dir=$(dirname "$(find "$work/prefix" -path '*site-packages/aimc/__init__.py' | head -n 1)")
if command -v python3 >/dev/null; then
  env -u LD_LIBRARY_PATH -u AIMC_LIBRARY PYTHONPATH="$(dirname "$pkg_dir")" python3 -c "
import os, sys, aimc
want = os.path.realpath(sys.argv[1])
assert os.path.realpath(aimc.library_path) == want, (aimc.library_path, want)
cfg = aimc.TileConfig(io='perfect')
assert cfg['forward.is_perfect'] == 1
print('installed python package aimc', aimc.version(), 'uses', aimc.library_path)
" "$(find "$work/prefix" -name libaimc.so.0 | head -n 1)"
fi
