"""What the fault-injection scripts share: the environment of their jobs and the list of
problems they found (each printed as it is found; a script exits 1 when it holds any)."""
import os
import subprocess
import sys

#: mpirun as root, and no Rust backtraces in the errors the scripts compare.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RUST_BACKTRACE="0")
problems = []


def need(ok, msg):
    """Records `msg` as a problem unless `ok`; returns `ok`."""
    if not ok:
        problems.append(msg)
        print("  PROBLEM", msg, flush=True)
    return ok


def fault_binary(binary):
    """`binary` if it takes `simulate --fault` (built with the cargo feature test-hooks, as
    scripts/test.sh builds it); otherwise exits saying how to build it."""
    probe = subprocess.run([binary, "simulate", "--fault", "0:open:0:fail", "--help"], capture_output=True, text=True, env=ENV)
    if probe.returncode != 0:
        sys.exit(f"{binary} has no --fault: build it with `cargo build --release --features test-hooks` "
                 f"({probe.stderr.strip().splitlines()[0] if probe.stderr.strip() else f'exit {probe.returncode}'})")
    return binary
