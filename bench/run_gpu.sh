#!/usr/bin/env bash
# Builds and runs the GPU benchmark suite: bench_gpu (aimc's CUDA backend
# against a device-to-device copy and cuBLAS, measured in the same run) and,
# where PyTorch sees the GPU, the PyTorch baseline bench/peers/torch_peer.py.
# Writes bench/results/gpu-<gpu>-<date>.md with the GPU, the commit, the
# commands, the tables and the targets (met or not).
#
#   bash bench/run_gpu.sh                      # the whole grid (a few minutes)
#   bash bench/run_gpu.sh --tiles 1,64 --batches 1,16   # a short run: options go
#                                              # to both programs; the file gets -short
#
# AIMC_BENCH_COMMIT names the commit where the tree has no .git (a copied tree);
# AIMC_BUILD_DIR an existing build folder (built there as configured, when it
# holds a CMakeCache.txt); AIMC_BENCH_OUT the results file's path; AIMC_BENCH_TMP a
# folder for the raw outputs, kept (else a temporary one, removed).
# Without a GPU it stops with a message and a non-zero status, writing nothing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
die() {
  echo "run_gpu.sh: $*" >&2
  exit 1
}

# ---- The GPU ----------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 ||
  die "no GPU here (nvidia-smi is not installed): nothing measured, no results written"
gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 2>/dev/null | head -n1)
[ -n "$gpu_line" ] || die "no GPU here (nvidia-smi finds no device): nothing measured, no results written"
gpu_name=$(echo "$gpu_line" | cut -d, -f1 | sed 's/^ *//; s/ *$//')
gpu_driver=$(echo "$gpu_line" | cut -d, -f2 | sed 's/^ *//; s/ *$//')
gpu_mem=$(echo "$gpu_line" | cut -d, -f3 | sed 's/^ *//; s/ *$//')
slug=$(echo "$gpu_name" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
[ -n "$slug" ] || slug=gpu

# ---- Build --------------------------------------------------------------------
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if [ -n "${AIMC_BENCH_TMP:-}" ]; then
  # kept: the CSV rows and progress written so far survive a run killed at its
  # timeout (scripts/gpu_check.sh packs this folder with its logs)
  tmp=$AIMC_BENCH_TMP
  mkdir -p "$tmp" || die "cannot create AIMC_BENCH_TMP=$tmp"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
build=${AIMC_BUILD_DIR:-build} # an existing build folder may be named
build_flags=(-DCMAKE_BUILD_TYPE=Release)
echo "run_gpu.sh: building bench_gpu in $build/" >&2
if [ -n "${AIMC_BUILD_DIR:-}" ] && [ -f "$build/CMakeCache.txt" ]; then
  # a folder configured already (scripts/gpu_check.sh's, without the Criterion
  # tests): build the target there, configured as it is
  build_flags=("(as configured in $build)")
  if ! cmake --build "$build" -j"$(nproc)" --target bench_gpu >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    die "could not build bench_gpu in $build"
  fi
elif ! { cmake -S . -B "$build" "${build_flags[@]}" &&
  cmake --build "$build" -j"$(nproc)" --target bench_gpu; } >"$tmp/build.log" 2>&1; then
  tail -n 15 "$tmp/build.log" >&2
  # the tests need Criterion and the apps more: a machine without them still builds the bench
  build="build-bench-gpu"
  build_flags=(-DCMAKE_BUILD_TYPE=Release -DAIMC_BUILD_TESTS=OFF -DAIMC_BUILD_APPS=OFF)
  echo "run_gpu.sh: that failed; building again in $build/ with ${build_flags[*]}" >&2
  if ! { cmake -S . -B "$build" "${build_flags[@]}" &&
    cmake --build "$build" -j"$(nproc)" --target bench_gpu; } >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    die "could not build bench_gpu (it exists only when CMake finds nvcc: AIMC_HAVE_CUDA)"
  fi
fi
bin=$build/bench/bench_gpu

# ---- Run ----------------------------------------------------------------------
echo "run_gpu.sh: $bin $*" >&2
# AIMC_BENCH_LD_PATH: libraries for bench_gpu alone (scripts/gpu_bundle.sh's zlib), not python3
LD_LIBRARY_PATH="${AIMC_BENCH_LD_PATH:+$AIMC_BENCH_LD_PATH:}${LD_LIBRARY_PATH:-}" \
  "$bin" --csv "$tmp/aimc.csv" "$@" 2>&1 >"$tmp/aimc.md" | tee "$tmp/aimc.err" >&2
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 77 ]; then
  die "bench_gpu could not use the GPU (exit 77: $(tail -n1 "$tmp/aimc.err")): no results written"
fi
if [ "$rc" -eq 2 ]; then
  die "bench_gpu refused the options: no results written"
fi

peer_cmd="python3 bench/peers/torch_peer.py --csv <tmp>/torch.csv $*"
peer_rc=77
torch_ver=""
if command -v python3 >/dev/null 2>&1 &&
  torch_ver=$(python3 -c 'import sys, torch; print(torch.__version__); sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null); then
  echo "run_gpu.sh: $peer_cmd" >&2
  PYTHONUNBUFFERED=1 python3 bench/peers/torch_peer.py --csv "$tmp/torch.csv" "$@" 2>&1 \
    >"$tmp/torch.md" | tee "$tmp/torch.err" >&2
  peer_rc=${PIPESTATUS[0]}
else
  echo "run_gpu.sh: PyTorch with CUDA is not available to python3: no PyTorch baseline" >&2
fi
[ -f "$tmp/torch.csv" ] || : >"$tmp/torch.csv"

# ---- Targets ------------------------------------------------------------------
targets() {
  awk -F, -v af="$tmp/aimc.csv" -v tf="$tmp/torch.csv" '
    FILENAME == af && FNR == 1 { next }
    FILENAME == af && $1 == "copy" { copy = $9; next }
    FILENAME == af && $6 == "ok" && $7 > 0 {
      n++; op[n] = $1; nt[n] = $2; r[n] = $3; c[n] = $4; b[n] = $5; ms[n] = $7
      ofc[n] = $10; cub[n] = $12; next
    }
    FILENAME == tf && FNR > 1 && $6 == "ok" && $7 > 0 { tms[$1 "," $2 "," $3 "," $4 "," $5] = $7 }
    function row(k) { return sprintf("%s %dx%dx%d b%d", op[k], nt[k], r[k], c[k], b[k]) }
    function verdict(name, judged, worst, where, met, goal) {
      if (judged == 0) printf("| %s | 0 | not measured | n/a |\n", name)
      else printf("| %s | %d | %s (%s) | %s |\n", name, judged, worst, where, met ? "**met**" : "**not met**")
    }
    END {
      # 1. update >= 60% of the copy bandwidth: 4096 tiles of 256x256, batch 1 and 16
      j = 0; w = ""; wk = 0
      for (k = 1; k <= n; k++)
        if (op[k] == "update" && nt[k] == 4096 && r[k] == 256 && c[k] == 256 && (b[k] == 1 || b[k] == 16)) {
          j++; if (wk == 0 || ofc[k] < ofc[wk]) wk = k
        }
      verdict("update >= 60% of the copy bandwidth (32 B/weight + x, d), 4096 tiles 256x256, batch 1 and 16",
              j, j ? sprintf("%.1f%%", 100 * ofc[wk]) : "", j ? row(wk) : "", j && ofc[wk] >= 0.6)
      # 2. reads at batch <= 16 >= 50% of the floor set by reading W once (4 B/weight at copy speed)
      j = 0; wk = 0
      for (k = 1; k <= n; k++)
        if ((op[k] == "forward" || op[k] == "backward") && b[k] <= 16 && nt[k] >= 1024) {
          f[k] = 4.0 * nt[k] * r[k] * c[k] / (ms[k] * 1e-3) / 1e9 / copy
          j++; if (wk == 0 || f[k] < f[wk]) wk = k
        }
      verdict("forward and backward at batch <= 16 >= 50% of the floor of reading W once (W bytes / copy bandwidth over the time), >= 1024 tiles",
              j, j ? sprintf("%.1f%%", 100 * f[wk]) : "", j ? row(wk) : "", j && f[wk] >= 0.5)
      # 3. fast-mode forward at batch 128 >= 70% of cuBLAS SgemmStridedBatched alone
      j = 0; wk = 0
      for (k = 1; k <= n; k++)
        if (op[k] == "forward-fast" && b[k] == 128 && nt[k] >= 1024 && cub[k] > 0) {
          j++; if (wk == 0 || cub[k] < cub[wk]) wk = k
        }
      verdict("fast-mode forward at batch 128 >= 70% of cuBLAS SgemmStridedBatched alone (cuBLAS time / aimc time), >= 1024 tiles",
              j, j ? sprintf("%.1f%%", 100 * cub[wk]) : "", j ? row(wk) : "", j && cub[wk] >= 0.7)
      # 4. update >= 10x the PyTorch baseline at 1024 tiles
      j = 0; wk = 0
      for (k = 1; k <= n; k++) {
        key = op[k] "," nt[k] "," r[k] "," c[k] "," b[k]
        if (op[k] == "update" && nt[k] == 1024 && (key in tms)) {
          s[k] = tms[key] / ms[k]
          j++; if (wk == 0 || s[k] < s[wk]) wk = k
        }
      }
      verdict("update >= 10x the PyTorch baseline (PyTorch time / aimc time), 1024 tiles",
              j, j ? sprintf("%.1fx", s[wk]) : "", j ? row(wk) : "", j && s[wk] >= 10)
    }' "$tmp/aimc.csv" "$tmp/torch.csv"
}

# ---- Results file ---------------------------------------------------------------
commit=${AIMC_BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
dirty=""
if git status --porcelain --untracked-files=no 2>/dev/null | grep -q .; then
  dirty=" (with uncommitted changes)"
fi
suffix=""
[ $# -gt 0 ] && suffix="-short"
# AIMC_BENCH_OUT: another path for the results file (scripts/gpu_check.sh's logs)
out=${AIMC_BENCH_OUT:-bench/results/gpu-${slug}-$(date -u +%Y%m%d)${suffix}.md}
mkdir -p "$(dirname "$out")"
copy=$(awk -F, '$1 == "copy" { print $9 }' "$tmp/aimc.csv")
{
  echo "# GPU benchmark"
  echo
  echo "- GPU: ${gpu_name}, driver ${gpu_driver}, ${gpu_mem}"
  echo "- commit: ${commit}${dirty}"
  echo "- command: \`bash bench/run_gpu.sh $*\`, which built \`$bin\` (\`cmake -S . -B $build ${build_flags[*]}\`) and ran"
  echo "  \`$bin --csv <tmp>/aimc.csv $*\`$([ "$peer_rc" -ne 77 ] && echo " and \`$peer_cmd\` (PyTorch ${torch_ver})")"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- device-to-device copy bandwidth (bytes read + written): ${copy:-not measured} GB/s"
  if [ "$rc" -ne 0 ]; then
    echo
    if [ "$rc" -eq 3 ]; then
      echo "**bench_gpu: some rows failed (exit 3); see their notes.**"
    else
      echo "**bench_gpu exited with status $rc: the tables are incomplete. Its last messages:**"
      echo
      echo '```'
      tail -n 15 "$tmp/aimc.err"
      echo '```'
    fi
  fi
  echo
  echo "## Targets"
  echo
  echo "Each target is judged on the rows named (worst row shown); the reads are judged on >= 1024"
  echo "tiles, where W (>= 256 MiB) is far beyond L2 and launch overhead is small."
  echo
  echo "| target | rows judged | worst (row) | met |"
  echo "|:-------|------------:|:------------|:----|"
  targets
  echo
  echo "## aimc ($bin)"
  echo
  cat "$tmp/aimc.md"
  echo
  echo "## PyTorch baseline (bench/peers/torch_peer.py)"
  echo
  if [ "$peer_rc" -eq 0 ]; then
    cat "$tmp/torch.md"
  elif [ "$peer_rc" -eq 77 ]; then
    echo "Not run: PyTorch with CUDA is not available to python3 on this machine."
  else
    echo "**torch_peer.py exited with status $peer_rc. Its last messages:**"
    echo
    echo '```'
    tail -n 15 "$tmp/torch.err"
    echo '```'
    [ -s "$tmp/torch.md" ] && cat "$tmp/torch.md"
  fi
} >"$tmp/result.md"
cp "$tmp/result.md" "$out"
cat "$out"
echo "run_gpu.sh: wrote $out" >&2
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
[ "$peer_rc" -eq 0 ] || [ "$peer_rc" -eq 77 ] || exit 4
exit 0
