#!/usr/bin/env bash
# Runs the robustness map (bench/robustness_map.c) and writes
# bench/results/robustness-map.{md,csv,png} with machine, commit and command.
# Extra arguments go to the program (--seeds, --samples, --cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target robustness_map >/dev/null
res=bench/results
csv=$res/robustness-map.csv
md=$res/robustness-map.md
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
start=$(date +%s)
table=$(./build/bench/robustness_map --csv "$csv" "$@")
wall=$(( $(date +%s) - start ))
{
  echo "# Robustness map: weight programming under reference offsets"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | sed 's/^/, GPU /')"
  echo "- commit: ${commit}${dirty}"
  echo "- command: \`bash bench/run_robustness.sh $*\`; wall time ${wall} s"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "The task and settings are described at the top of bench/robustness_map.c and in"
  echo "docs/algorithms.md. Per-tile values: robustness-map.csv; heatmap: robustness-map.png."
  echo
  echo '```'
  echo "$table"
  echo '```'
  echo
  echo "Correlation detection (5x5, d = 0.4 x + 0.6 noise, 5000 samples, 4 tiles; mean diagonal"
  echo "and mean |off-diagonal| weight):"
  echo
  echo '```'
  sed -n '/# correlation detection/,$p' "$csv"
  echo '```'
  echo
  echo "Published (Rasch et al. 2024, Fig. 4, as summarised in shared/reference/algorithms.md):"
  echo "analog SGD above 25 % at 20 states; TTv2 about 5 % at 20 states, rising to about 9 % once"
  echo "reference_std reaches 0.1; chopped TTv2 flat up to about 0.5; AGAD flat everywhere."
} > "$md"
# heatmap: mean over seeds, one panel per algorithm
if command -v gnuplot >/dev/null; then
  tmp=$(mktemp -d)
  awk -F, 'NR > 1 && !/^#/ && NF == 6 { key = $1 "," $2 "," $3; s[key] += $5; n[key]++ }
    END { for (k in s) { split(k, p, ","); print p[1] "," p[2] "," p[3] "," s[k] / n[k] } }' "$csv" |
    sort > "$tmp/mean.csv"
  for alg in "analog SGD" "TTv2" "chopped TTv2" "AGAD"; do
    f="$tmp/$(echo "$alg" | tr ' ' _).dat"
    grep "^$alg," "$tmp/mean.csv" | awk -F, '{
      r = ($2 == 0 ? 0 : $2 == 0.05 ? 1 : $2 == 0.1 ? 2 : $2 == 0.2 ? 3 : $2 == 0.5 ? 4 : 5)
      s = ($3 == 10 ? 0 : $3 == 20 ? 1 : $3 == 50 ? 2 : $3 == 100 ? 3 : $3 == 500 ? 4 : 5)
      print r, s, $4 }' | sort -n -k1 -k2 > "$f"
  done
  gnuplot <<GP
set terminal pngcairo size 1400,380 font ",10"
set output "$res/robustness-map.png"
set multiplot layout 1,4 title "Weight-programming error (% of range, mean of seeds)"
set xtics ("0" 0, "0.05" 1, "0.1" 2, "0.2" 3, "0.5" 4, "1" 5)
set ytics ("10" 0, "20" 1, "50" 2, "100" 3, "500" 4, "1000" 5)
set xlabel "reference std"
set ylabel "device states"
set cbrange [0:30]
set palette defined (0 "#1a9850", 3 "#fee08b", 10 "#f46d43", 30 "#a50026")
set xrange [-0.5:5.5]
set yrange [-0.5:5.5]
do for [a in "analog_SGD TTv2 chopped_TTv2 AGAD"] {
  set title a noenhanced
  plot "$tmp/".a.".dat" using 1:2:3 with image notitle, \
       "" using 1:2:(sprintf("%.1f", \$3)) with labels font ",8" notitle
}
unset multiplot
GP
  rm -rf "$tmp"
  echo "![robustness map](robustness-map.png)" >> "$md"
else
  echo "(heatmap skipped: gnuplot is not installed)" >> "$md"
fi
echo "wrote $md, $csv"
