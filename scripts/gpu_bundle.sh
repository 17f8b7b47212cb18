#!/usr/bin/env bash
# Prepares, on this (Debian) machine, the one build dependency a bare GPU
# machine lent by the workplace's device tool may lack: zlib's header and
# development library (find_package(ZLIB REQUIRED); whether that image has
# zlib1g-dev is unchecked), extracted from Debian's packages into .gpu/root
# (ignored by git; name ".gpu" in the device tool's `carry`). That machine
# reaches no package registry. scripts/gpu_check.sh points CMake at it when
# present. Criterion is no longer carried: aimc-gpucheck (tools/gpucheck/)
# runs the CUDA agreement tests without it.
#
# Usage: bash scripts/gpu_bundle.sh        then carry [".gpu"] to gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
rm -rf .gpu
mkdir -p .gpu/debs .gpu/root
pkgs=(zlib1g zlib1g-dev)
(cd .gpu/debs && apt-get download "${pkgs[@]}" >/dev/null)
for d in .gpu/debs/*.deb; do dpkg -x "$d" .gpu/root; done
rm -rf .gpu/debs .gpu/root/usr/share
# absolute links (libz.so -> /lib/...) would point outside the bundle there
find .gpu/root -type l -lname '/*' | while read -r link; do
  ln -sfn "$PWD/.gpu/root$(readlink "$link")" "$link.tmp"
  target=$(realpath --relative-to="$(dirname "$link")" "$link.tmp")
  rm "$link.tmp"
  ln -sfn "$target" "$link"
done
echo "gpu_bundle: $(du -sh .gpu | cut -f1) in .gpu/root (${pkgs[*]})"
