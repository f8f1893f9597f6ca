"""What the fault-injection scripts share: the environment of their jobs and the list of
problems they found (each printed as it is found; a script exits 1 when it holds any)."""
import os

#: mpirun as root, and no Rust backtraces in the errors the scripts compare.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RUST_BACKTRACE="0")
problems = []


def need(ok, msg):
    """Records `msg` as a problem unless `ok`; returns `ok`."""
    if not ok:
        problems.append(msg)
        print("  PROBLEM", msg, flush=True)
    return ok
