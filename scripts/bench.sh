#!/usr/bin/env bash
# Write benchmarks against Neo, side by side in one run; prints the table and writes
# benches/results/latest.{md,json,svg}. Takes about 6 minutes (Neo's write of 10,000
# spike trains alone takes 3); --quick uses 2,000 trains and 200 signals.
#   scripts/bench.sh [--quick] [--keep]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --python
cargo build --release --quiet
exec .venv/bin/python scripts/bench.py --bin target/release/bsb-results --out benches/results "$@"
