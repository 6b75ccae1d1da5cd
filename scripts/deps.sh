#!/usr/bin/env bash
# Installs the Debian packages recall needs, and only those that are missing.
# Sourced by demo.sh and test.sh; safe to run on its own.
set -euo pipefail

packages=(g++ cmake pkg-config libabsl-dev libxxhash-dev libcereal-dev libfmt-dev
          catch2 libbenchmark-dev libhiredis-dev redis-server python3 gnuplot-nox)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "recall: installing missing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "recall: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
