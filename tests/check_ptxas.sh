#!/usr/bin/env bash
# Register, stack and spill budget of the hot CUDA kernels, read from ptxas.
#
# Every kernel declared AIMC_HOT_KERNEL (kernels/cuda/cuda_common.cuh:
# __launch_bounds__(AIMC_THREADS, AIMC_HOT_BLOCKS)) must compile for sm_90
# with no spill stores or loads, no stack frame (a stack frame is a
# run-time-indexed local array or a call: local memory in a hot loop) and at
# most 65536 / (AIMC_THREADS * AIMC_HOT_BLOCKS) registers, the budget for
# AIMC_HOT_BLOCKS resident blocks per SM. pulse_kernel, mvm_kernel,
# stellar_pulse_kernel, panther_pulse_kernel, direct_kernel and
# transfer_kernel must be among them. Needs nvcc only (no GPU); exits 77
# (skipped) without it.
#
# usage: check_ptxas.sh <source dir> [nvcc]   (prints the per-kernel table)
set -u
src=${1:?source directory}
nvcc=${2:-}
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
  nvcc=$(command -v nvcc || true)
  [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
fi
if [ -z "$nvcc" ]; then
  echo "check_ptxas: no nvcc, skipped"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# The flags the library's CUDA objects get (CMakeLists.txt AIMC_CUDA_FLAGS),
# for sm_90 only.
flags=(-O3 --fmad=false -std=c++17 -arch=sm_90 -Xptxas -v -I"$src/include" -I"$src"
       -DAIMC_BUILDING -DAIMC_WITH_CUDA)

common="$src/kernels/cuda/cuda_common.cuh"
threads=$(sed -n 's/^#define AIMC_THREADS \([0-9]*\).*/\1/p' "$common")
blocks=$(sed -n 's/^#define AIMC_HOT_BLOCKS \([0-9]*\).*/\1/p' "$common")
if [ -z "$threads" ] || [ -z "$blocks" ]; then
  echo "check_ptxas: AIMC_THREADS / AIMC_HOT_BLOCKS not found in $common"
  exit 1
fi
budget=$((65536 / (threads * blocks)))

# ptxas -v of one .cu as lines "kernel regs stack spill_stores spill_loads smem".
kernel_table() {
  "$nvcc" "${flags[@]}" -c "$1" -o "$work/o.o" 2>"$work/log" || { cat "$work/log"; return 1; }
  awk '
    /Compiling entry function/ {
      match($0, /_Z[0-9]+/); n = substr($0, RSTART + 2, RLENGTH - 2) + 0
      name = substr($0, RSTART + RLENGTH, n); rest = substr($0, RSTART + RLENGTH + n)
      if (rest ~ /^ILi[0-9]+EE/) { match(rest, /[0-9]+/); name = name "<" substr(rest, RSTART, RLENGTH) ">" }
      cur = name; stack = "?"; st = "?"; ld = "?"
    }
    cur != "" && /bytes stack frame/ { stack = $1; st = $5; ld = $9 }
    cur != "" && /Used [0-9]+ registers/ {
      match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
      smem = 0; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11)
      print cur, regs, stack, st, ld, smem; cur = ""
    }' "$work/log"
}

# The parser must see a stack frame where there is one: a fixture kernel
# with a run-time-indexed local array (so this test can fail).
fixture=$(kernel_table "$src/tests/ptxas/stack_fixture.cu") || exit 1
if ! echo "$fixture" | awk '$1 == "stack_fixture_kernel" && $3 > 0 { ok = 1 } END { exit !ok }'; then
  echo "check_ptxas: the parser missed the fixture's stack frame: '$fixture'"
  exit 1
fi

hot=$(grep -ho 'void AIMC_HOT_KERNEL [a-z_0-9]*' "$src"/kernels/cuda/*.cu "$src"/kernels/cuda/*.cuh |
      awk '{print $3}' | sort -u)
for must in pulse_kernel mvm_kernel stellar_pulse_kernel panther_pulse_kernel direct_kernel \
  transfer_kernel; do
  if ! echo "$hot" | grep -qx "$must"; then
    echo "check_ptxas: $must is not declared AIMC_HOT_KERNEL"
    fail=1
  fi
done

echo "budget: $threads threads x $blocks blocks per SM -> at most $budget registers"
printf '| %-22s | %4s | %5s | %6s | %5s | %6s | %s |\n' kernel regs stack spills loads smem verdict
for cu in "$src"/kernels/cuda/*.cu; do
  case "$(basename "$cu")" in cuda_context.cu) continue ;; esac
  grep -q '__global__' "$cu" || continue
  if ! table=$(kernel_table "$cu"); then
    # only a file with hot kernels fails this test by not compiling alone
    if grep -q 'AIMC_HOT_KERNEL' "$cu"; then fail=1; else echo "check_ptxas: skipped $cu"; fi
    continue
  fi
  while read -r name regs stack st ld smem; do
    base=${name%%<*}
    verdict=-
    if echo "$hot" | grep -qx "$base"; then
      verdict=ok
      if [ "$stack" != 0 ] || [ "$st" != 0 ] || [ "$ld" != 0 ] || [ "$regs" -gt "$budget" ]; then
        verdict=FAIL
        fail=1
      fi
      hot_seen="${hot_seen:-} $base"
    fi
    printf '| %-22s | %4s | %5s | %6s | %5s | %6s | %s |\n' "$name" "$regs" "$stack" "$st" "$ld" "$smem" "$verdict"
  done <<<"$table"
done
for k in $hot; do
  case " ${hot_seen:-} " in *" $k "*) ;; *) echo "check_ptxas: hot kernel $k not in the ptxas output"; fail=1 ;; esac
done
[ "$fail" = 0 ] && echo "check_ptxas: all hot kernels within budget" || echo "check_ptxas: FAILED"
exit "$fail"
