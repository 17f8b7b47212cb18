#!/usr/bin/env bash
# Installs the Debian packages aimc needs, when missing (needs root or sudo).
set -euo pipefail
need=()
for pkg in cmake make gcc g++ pkg-config libcriterion-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox \
           python3 python3-venv python3-pip; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "aimc: installing ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
