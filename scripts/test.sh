#!/usr/bin/env bash
# The test command: installs what is missing (apt packages, the Python venv with Neo),
# then runs the Rust tests, the collective tests under mpirun -n 1/2/4, reads every file
# written with Neo, and tests the Python package (built into .venv by setup.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --python
source scripts/mpi-env.sh
py="$root/.venv/bin/python"
work="$(mktemp -d)"
# Fault injection (`simulate --fault`, the fault tests of tests/mpi.rs) and the benches'
# entry points are in the cargo feature test-hooks; every build here has it, so the binary
# that the scripts below run is one build.
features=(--features test-hooks)
trap 'rm -rf "$work"' EXIT

# Runs a command with its output in a log; shows the log only when it fails.
quietly() {
  local log="$work/$1.log"
  shift
  if ! RUST_BACKTRACE=0 "$@" > "$log" 2>&1; then
    cat "$log"
    echo "FAILED: $*"
    exit 1
  fi
}

echo "== cargo test"
quietly cargo-test cargo test --release "${features[@]}"
grep -aE "^test result" "$work/cargo-test.log"

echo "== collective tests under mpirun"
mpi_test="$(cargo test --release "${features[@]}" --test mpi --no-run --message-format=json 2>/dev/null \
  | "$py" -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == "mpi"][-1])')"
for n in 1 2 4; do
  mkdir -p "$work/mpi$n"
  quietly "mpi$n" timeout 300 "${MPIRUN[@]}" -n "$n" "$mpi_test" --keep "$work/mpi$n"
  tail -1 "$work/mpi$n.log"
done
"$py" tests/neo/check_shapes.py 1="$work/mpi1" 2="$work/mpi2" 4="$work/mpi4"

echo "== examples, as a plain process and under mpirun -n 2"
cargo build --release --quiet "${features[@]}" --examples --bins
for example in quickstart streaming; do
  quietly "example-$example" target/release/examples/$example
  quietly "example-$example-2" timeout 300 "${MPIRUN[@]}" -n 2 target/release/examples/$example
  tail -1 "$work/example-$example-2.log"
done

echo "== simulate under mpirun, read back by Neo"
bin="$root/target/release/bsb-results"
args=(--cells 60 --voltage-cells 5 --checkpoints 3 --duration-ms 300 --resolution-ms 0.5 --quiet)
"$bin" simulate "${args[@]}" --out "$work/sim-plain.nio" > /dev/null
specs=(1="$work/sim-plain.nio")
for n in 1 2 4; do
  timeout 300 "${MPIRUN[@]}" -n "$n" "$bin" simulate "${args[@]}" --out "$work/sim$n.nio" > "$work/sim$n.json"
  specs+=("$n=$work/sim$n.nio")
done
"$py" tests/neo/check_simulate.py --cells 60 --voltage-cells 5 --checkpoints 3 --duration-ms 300 --resolution-ms 0.5 "${specs[@]}"

echo "== simulate --multiplex, demultiplexed by BSB 8.0.2's reader"
specs=()
for n in 1 2 4; do
  timeout 300 "${MPIRUN[@]}" -n "$n" "$bin" simulate "${args[@]}" --multiplex --out "$work/mux$n.nio" > /dev/null
  specs+=("$n=$work/mux$n.nio")
done
"$py" tests/neo/check_multiplex.py "$work/sim1.nio" "${specs[@]}"

echo "== nixio 1.5.4: every entity's timestamps, and validate() no worse than on Neo's copy of the same Blocks"
# A second run added to a copy of sim2.nio, streamed: checkpoints over a second apart, so
# a Block or file whose updated_at a write forgot to advance shows.
cp "$work/sim2.nio" "$work/rw.nio"
timeout 300 "${MPIRUN[@]}" -n 2 "$bin" simulate "${args[@]}" --mode rw --name second --stream --compute-ms 600 --out "$work/rw.nio" > /dev/null
"$py" tests/neo/check_nixio.py --bin "$bin" --old tests/fixtures/corpus/simulate.nio \
  "$work/sim1.nio" "$work/sim2.nio" "$work/mux1.nio" "$work/mux2.nio" "$work/rw.nio"

echo "== our reader against Neo's (fixtures written by Neo) and BSB 8.0.2's iter_recordings"
"$py" tests/neo/reader_vs_neo.py --bin "$bin" --dir "$work/fixtures" "$work/sim4.nio" "$work/mux4.nio" "$work/mpi4/shapes.nio" "$work/mpi2/append.nio"

echo "== the Python package (tests/python), as a plain process and under mpirun -n 1, 2 and 4"
pytest=("$py" -m pytest -q -p no:cacheprovider --color=no tests/python)
export BSB_RESULTS_BIN="$bin"
quietly pytest-plain timeout 600 "${pytest[@]}"
tail -1 "$work/pytest-plain.log"
for n in 1 2 4; do
  quietly "pytest-mpi$n" timeout 600 "${MPIRUN[@]}" -n "$n" "${pytest[@]}"
  echo "mpirun -n $n: $(grep -aE "passed|failed" "$work/pytest-mpi$n.log" | tail -1)"
done
quietly example-python "$py" examples/python/quickstart.py
quietly example-python-2 timeout 300 "${MPIRUN[@]}" -n 2 "$py" examples/python/quickstart.py
tail -1 "$work/example-python-2.log"

echo "== the data phase as a parallel file system sees it: write calls per rank (strace), blocks shared"
"$py" tests/pfs/write_calls.py --bin "$bin" --ranks 2 4 --cells 1000 10000

echo "== BSB 8.0.2: NEURON (1 process, mpirun -n 2) and NEST runs, BSB's result against bsb_results.bsb's"
quietly bsb "$py" tests/bsb/test_bsb.py "$work/bsb"
grep -aE "^(ok|FAIL)" "$work/bsb.log"

echo "== fault injection under mpirun -n 2 and -n 4 (kills, a lost rank, I/O errors)"
"$py" tests/faults/faults.py --bin "$bin" --ranks 2 4 --random 5

echo "== a crash at every write of a commit (stream on 2 ranks, ow, rw), recovered and read by Neo, h5py and ours"
"$py" tests/faults/every_write.py --bin "$bin"

echo "== a full disk at the layout, the data phase and the commit (a small tmpfs), plain and under mpirun -n 2"
"$py" tests/faults/full_disk.py --bin "$bin"

echo "== locks as HDF5 takes them (a file system refusing flock), readers during a write"
"$py" tests/faults/locks_readers.py --bin "$bin"
echo "all tests passed"
