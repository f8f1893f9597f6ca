#!/usr/bin/env bash
# Installs what bsb-results needs on Debian 12 when it is missing: the MPI and parallel
# HDF5 packages (with sudo when not root) and, with --python, the test venv in .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libclang-dev hdf5-tools pkg-config python3-venv)
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
  # The readers (requirements.txt), BSB 8.0.2 with its NEURON adapter
  # (requirements-bsb.txt), and NEST's adapter apart in .venv/nest (requirements-nest.txt
  # says why); reinstalled only when a list changes.
  lists=(requirements.txt requirements-bsb.txt requirements-nest.txt)
  wanted="$(cd "$root/scripts" && cat "${lists[@]}")"
  if [ "$wanted" != "$(cat "$stamp" 2>/dev/null)" ]; then
    echo "setup: creating the Python venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -r "$root/scripts/requirements.txt" -r "$root/scripts/requirements-bsb.txt" >&2
    "$venv/bin/pip" install -q --no-deps --upgrade --target "$venv/nest" -r "$root/scripts/requirements-nest.txt" >&2
    printf '%s' "$wanted" > "$stamp"
  fi
fi
