#!/usr/bin/env bash
# Launches bsb-results under OpenMPI's mpirun: mpirun options first, then `--`, then the
# command (the release binary is built if missing).
#
#   scripts/mpirun.sh -n 4 -- simulate --cells 10000 --out run.nio
#   scripts/mpirun.sh -n 64 --hostfile hosts -- simulate --multiplex --out /gpfs/$USER/run.nio
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/mpi-env.sh"
launcher=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  launcher+=("$1")
  shift
done
[ "${1:-}" = "--" ] || { echo "usage: scripts/mpirun.sh MPIRUN-OPTIONS -- COMMAND [ARGS]" >&2; exit 2; }
shift
bin="$root/target/release/bsb-results"
[ -x "$bin" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml"
exec "${MPIRUN[@]}" "${launcher[@]}" "$bin" "$@"
