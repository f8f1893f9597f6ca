#!/usr/bin/env bash
# Installs what bsb-results needs on Debian 12 when it is missing: the MPI and parallel
# HDF5 packages (with sudo when not root) and, with --python, the test venv in .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libclang-dev hdf5-tools pkg-config python3-venv strace)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust first (https://rustup.rs)" >&2
  exit 1
fi

if [ "${1:-}" = "--python" ]; then
  venv="$root/.venv"
  stamp="$venv/.requirements"
  if ! cmp -s "$root/scripts/requirements.txt" "$stamp" 2>/dev/null; then
    echo "setup: creating the Python venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -r "$root/scripts/requirements.txt" >&2
    cp "$root/scripts/requirements.txt" "$stamp"
  fi
fi
