#!/usr/bin/env bash
# Write benchmarks against Neo, side by side in one run; prints the table and writes
# benches/results/latest.{md,json,svg}. Takes about 30 minutes here (each of Neo's two writes
# of 10,000 spike trains, from our file and from Python, takes 3 to 6), plus about 5 for
# the real BSB 8.0.2 runs (scripts/bench_bsb.py); --quick uses 2,000 trains, 200 signals
# and a 200-cell BSB network.
#   scripts/bench.sh [--quick] [--keep]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --python
cargo build --release --quiet
exec .venv/bin/python scripts/bench.py --bin target/release/bsb-results --out benches/results "$@"
