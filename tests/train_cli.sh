#!/usr/bin/env bash
# aimc-train end to end on a tiny synthetic IDX data set: argument errors,
# learning, replicas and sweeps in the result files, split layers, and a
# resumed run equal to a straight one.
#   train_cli.sh <aimc-train> <scratch folder>
set -euo pipefail
train=$1
work=$2
rm -rf "$work"
mkdir -p "$work/data"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 400 training and 100 test images (tests/tiny_idx.pl); the test labels are
# gzip'ed to exercise the .gz path.
perl "$(dirname "$0")/tiny_idx.pl" "$work/data" 400 100
gzip "$work/data/t10k-labels-idx1-ubyte"

data=(--data "$work/data" --train-subset 0 --layers 64,12,4 --max-tile 8 --progress lines)

# --help documents the options
# (through a file: grep -q would end the pipe early and pipefail see SIGPIPE)
"$train" --help > "$work/help.txt" || fail "--help failed"
grep -q -- "--resume PATH" "$work/help.txt" || fail "--help does not document --resume"

# argument errors: exit status 2 and a message naming the argument and value
expect_error() { # expected-text args...
  local want=$1; shift
  set +e
  "$train" "$@" --out "$work/err" > "$work/err.out" 2> "$work/err.txt"
  local rc=$?
  set -e
  [ "$rc" = 2 ] || fail "aimc-train $* exited $rc, expected 2"
  grep -q -- "$want" "$work/err.txt" || fail "aimc-train $*: message lacks '$want': $(cat "$work/err.txt")"
}
expect_error "--epochs 0 is not an integer in \[1, 100000\]" --epochs 0
expect_error "--algorithm bogus is not one of" --algorithm bogus
expect_error "nosuch.field" --sweep nosuch.field=1,2
expect_error "--lr-schedule step:0:0.5" --lr-schedule step:0:0.5
expect_error "$work/missing/train-images-idx3-ubyte: cannot open" --data "$work/missing"
expect_error "starts with 784 inputs but the images have 64 pixels" --data "$work/data"
expect_error "--layers cannot be combined with --resume" --resume "$work/x.aimc" --layers 64,4

# learning: float SGD separates the quadrants
"$train" "${data[@]}" --algorithm float-sgd --lr 0.5 --epochs 3 --seeds 2 --out "$work/float" \
  > "$work/float.out" 2> "$work/float.err" || fail "float-sgd run: $(cat "$work/float.err")"
acc=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "test_accuracy") c = i }
               $1 == 3 { s += $c; n++ } END { print s / n }' "$work/float/results.csv")
awk -v a="$acc" 'BEGIN { exit !(a >= 90) }' || fail "float SGD reached only $acc % (expected >= 90 %)"
grep -q "^float-sgd" "$work/float.out" || fail "no results table"

# replicas x sweep values in the files; a straight run equals a resumed one
run=(--algorithm c-ttv2 --device idealized --seeds 2 --sweep forward.out_noise=0,0.1 --lr 0.2)
"$train" "${data[@]}" "${run[@]}" --epochs 2 --out "$work/straight" > /dev/null 2> "$work/s.err" \
  || fail "straight run: $(cat "$work/s.err")"
rows=$(($(wc -l < "$work/straight/results.csv") - 1))
[ "$rows" = 8 ] || fail "results.csv has $rows rows, expected 2 epochs x 4 replicas"
head -1 "$work/straight/results.csv" | grep -q ",forward.out_noise," || fail "no sweep column"
awk -F, 'NR > 1 && ($2 < 2) != ($5 == 0) { exit 1 }' "$work/straight/results.csv" \
  || fail "replicas 0,1 should have out_noise 0 and replicas 2,3 out_noise 0.1"
grep -q '"label": "forward.out_noise=0.1"' "$work/straight/results.json" || fail "results.json"
"$train" "${data[@]}" "${run[@]}" --epochs 1 --out "$work/resumed" > /dev/null 2> "$work/r.err" \
  || fail "first half: $(cat "$work/r.err")"
"$train" --resume "$work/resumed/checkpoint.aimc" --epochs 2 --data "$work/data" --out "$work/resumed" \
  > /dev/null 2> "$work/r.err" || fail "resume: $(cat "$work/r.err")"
cut -d, -f1-9 "$work/straight/results.csv" > "$work/a.csv"
cut -d, -f1-9 "$work/resumed/results.csv" > "$work/b.csv"
cmp -s "$work/a.csv" "$work/b.csv" || fail "resumed run differs: $(diff "$work/a.csv" "$work/b.csv")"
# the training loop's own time (bench/run_cpu_vs_aihwkit.sh reads it): positive
# for the epochs a process trained, null for those it read from a checkpoint
python3 - "$work/straight/results.json" "$work/resumed/results.json" <<'EOF' || fail "train_seconds in results.json"
import json, sys
straight = json.load(open(sys.argv[1]))["epochs"]
resumed = json.load(open(sys.argv[2]))["epochs"]
assert all(e["train_seconds"] > 0 and e["train_samples_per_second"] > 0 and e["train_cpu_seconds"] > 0
           for e in straight), straight
assert all(e["train_seconds"] <= e["seconds"] + 0.0005 for e in straight), straight  # seconds: 3 decimals
assert resumed[0]["train_seconds"] is None and resumed[0]["train_samples_per_second"] is None, resumed
assert resumed[0]["train_cpu_seconds"] is None, resumed
assert resumed[1]["train_seconds"] > 0 and resumed[1]["train_cpu_seconds"] > 0, resumed
EOF

# a damaged checkpoint is refused with the path named
head -c 1000 "$work/resumed/checkpoint.aimc" > "$work/cut.aimc"
expect_error "$work/cut.aimc" --resume "$work/cut.aimc" --epochs 3
echo "train_cli: all checks passed"
