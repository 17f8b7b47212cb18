#!/usr/bin/env bash
# Prepares, on this (Debian) machine, what the GPU machine lent by the
# workplace's device tool lacks to build and run the test suites: Criterion
# with its libraries and zlib's header, extracted from Debian's packages into
# .gpu/root (ignored by git; give it to the device tool's `carry`). That
# machine reaches no package registry, so nothing can be installed there.
#
# Usage: bash scripts/gpu_bundle.sh        then carry [".gpu"] to gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu
mkdir -p .gpu/debs .gpu/root
pkgs=(libcriterion3 libcriterion-dev libgit2-1.5 libhttp-parser2.9 libmbedcrypto7 libmbedtls14
      libmbedx509-1 libssh2-1 libnanomsg5 libffi8 zlib1g zlib1g-dev)
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
