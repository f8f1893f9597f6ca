#!/usr/bin/env bash
# The main command: installs what is missing, builds the release binary, and runs it.
#   scripts/run.sh simulate --out run.nio              one process (MPI singleton)
#   scripts/run.sh -n 4 simulate --out run.nio         under mpirun with 4 ranks
#   scripts/run.sh inspect run.nio
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/bsb-results"
if [ "${1:-}" = "-n" ]; then
  ranks="$2"
  shift 2
  source "$root/scripts/mpi-env.sh"
  exec "${MPIRUN[@]}" -n "$ranks" "$bin" "$@"
fi
exec "$bin" "$@"
