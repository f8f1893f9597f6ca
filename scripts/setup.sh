#!/usr/bin/env bash
# Installs what bsb-results needs on Debian 12 when it is missing: the MPI and parallel
# HDF5 packages (with sudo when not root) and, with --python, the test venv in .venv with
# the Python package `bsb_results` (python/) built into it, rebuilt whenever the Rust or
# Python sources changed since the last build. Safe to run again: it only installs what is
# missing or out of date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libclang-dev hdf5-tools pkg-config python3-venv python3-dev strace)
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
    # mpi4py from source, so that it links the system Open MPI as the extension does.
    "$venv/bin/pip" install -q --no-binary mpi4py -r "$root/scripts/requirements.txt" -r "$root/scripts/requirements-bsb.txt" >&2
    "$venv/bin/pip" install -q --no-deps --upgrade --target "$venv/nest" -r "$root/scripts/requirements-nest.txt" >&2
    printf '%s' "$wanted" > "$stamp"
    rm -f "$venv/.bsb_results-built"
  fi
  built="$venv/.bsb_results-built"
  sources=("$root/src" "$root/python/src" "$root/Cargo.toml" "$root/Cargo.lock" "$root/python/Cargo.toml" "$root/python/pyproject.toml")
  if [ ! -e "$built" ] || [ -n "$(find "${sources[@]}" -newer "$built" -print -quit)" ]; then
    echo "setup: building the Python package bsb_results into $venv" >&2
    touch "$built.new"
    (cd "$root/python" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --release --quiet >&2)
    mv "$built.new" "$built"
  fi
fi
