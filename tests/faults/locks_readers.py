#!/usr/bin/env python3
"""Locks as HDF5 takes them, and readers that never write and never wait.

- A file system that refuses locks (the LD_PRELOAD shim makes flock fail with ENOSYS):
  `rw` and `--stream` warn and go on; HDF5_USE_FILE_LOCKING=FALSE goes on silently;
  HDF5_USE_FILE_LOCKING=TRUE refuses, naming the variable, and changes nothing.
- A file another program holds open for writing (an exclusive flock, as HDF5 takes) is
  refused, and changes nothing.
- A reader during a paused stream (at the layout and in the middle of the commit) reads
  the committed checkpoints, changes neither the file nor the journal; `recover` refuses
  while the writer lives.
- After the writer is killed in the middle of its commit, a user with read permission only
  reads the committed checkpoints of the read-only file with its stale journal.

usage: locks_readers.py --bin target/release/bsb-results
(the binary built with `cargo build --release --features test-hooks`, for `simulate --fault`)
"""
import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from checks import ENV, fault_binary, need, problems

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = ["--cells", "20", "--voltage-cells", "2", "--duration-ms", "300", "--resolution-ms", "0.5", "--quiet"]
ENV.pop("HDF5_USE_FILE_LOCKING", None)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def simulate(binary, out, extra, env=None, ranks=1):
    cmd = [binary, "simulate", "--out", out, *SHAPE, *extra]
    if ranks > 1:
        cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), *[a for k in (env or {}) for a in ("-x", k)], *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, **(env or {})))


def segments(binary, path, run=None, user=None):
    cmd = [binary, "inspect", "--json", "--no-annotations", *(["--run", run] if run else []), path]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return done.stderr.strip()
    return sorted({o["segment"] for o in json.loads(done.stdout)})


def refused_locks(binary, work, shim):
    refuse = {"LD_PRELOAD": shim, "BSB_SHIM_FLOCK": "refuse"}
    for ranks, extra in ((1, ["--mode", "rw"]), (2, ["--mode", "rw", "--stream", "--checkpoints", "2"])):
        out = os.path.join(work, f"nolocks-{ranks}.nio")
        need(simulate(binary, out, ["--name", "old"]).returncode == 0, "seed")
        done = simulate(binary, out, [*extra, "--name", "new"], refuse, ranks)
        need(done.returncode == 0, f"{ranks} rank(s), locks refused: {done.stderr.strip()[-300:]}")
        need("refuses file locks" in done.stderr, f"{ranks} rank(s), locks refused: no warning: {done.stderr.strip()[-300:]}")
        need(segments(binary, out, "new") == list(range(2 if "--stream" in extra else 1)), f"{ranks} rank(s): the new run is not readable")
        print(f"  {ranks} rank(s), a file system refusing locks: warned and written", flush=True)
    out = os.path.join(work, "nolocks-env.nio")
    need(simulate(binary, out, ["--name", "old"]).returncode == 0, "seed")
    done = simulate(binary, out, ["--mode", "rw", "--name", "new"], dict(refuse, HDF5_USE_FILE_LOCKING="FALSE"))
    need(done.returncode == 0 and "refuses" not in done.stderr, f"HDF5_USE_FILE_LOCKING=FALSE: {done.returncode} {done.stderr.strip()[-300:]}")
    before = sha(out)
    done = simulate(binary, out, ["--mode", "rw", "--name", "third"], dict(refuse, HDF5_USE_FILE_LOCKING="TRUE"))
    need(done.returncode != 0 and "HDF5_USE_FILE_LOCKING=TRUE" in done.stderr, f"HDF5_USE_FILE_LOCKING=TRUE: {done.returncode} {done.stderr.strip()[-300:]}")
    need(sha(out) == before and not os.path.exists(out + "-journal"), "HDF5_USE_FILE_LOCKING=TRUE: the file changed")
    print("  HDF5_USE_FILE_LOCKING=FALSE: no locks, no warning; TRUE: refused, file unchanged", flush=True)


def held_by_another_program(binary, work):
    out = os.path.join(work, "held.nio")
    need(simulate(binary, out, ["--name", "old"]).returncode == 0, "seed")
    before = sha(out)
    with open(out, "rb+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for mode in ("rw", "ow"):
            done = simulate(binary, out, ["--mode", mode])
            need(done.returncode != 0 and "open for writing in another program" in done.stderr, f"{mode} on a held file: {done.returncode} {done.stderr.strip()[-300:]}")
    need(sha(out) == before and os.listdir(work).count("held.nio-journal") == 0, "a held file changed")
    print("  a file held for writing by another program: refused, unchanged", flush=True)


class Paused:
    """A 2-rank stream paused at `point` of its second write."""

    def __init__(self, binary, out, point):
        cmd = ["mpirun", "--oversubscribe", "-n", "2", binary, "simulate", "--out", out, *SHAPE, "--stream", "--checkpoints", "3",
               "--name", "new", "--fault", f"1:{point}:0:pause"]
        self.out = out
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
        self.lines = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()
        end = time.time() + 60
        while time.time() < end and not any("PAUSED" in line for line in self.lines):
            time.sleep(0.01)
        need(any("PAUSED" in line for line in self.lines), f"{out}: never paused")

    def kill(self):
        for _ in range(50):
            pids = [int(p) for p in filter(str.isdigit, os.listdir("/proc")) if self._mine(p)]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not pids:
                break
            time.sleep(0.05)
        self.proc.wait(30)

    def _mine(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return self.out.encode() in f.read()
        except OSError:
            return False


def readers(binary, work):
    for point in ("layout", "commit"):
        out = os.path.join(work, f"paused-{point}.nio")
        job = Paused(binary, out, point)
        journal = out + "-journal"
        before = (sha(out), sha(journal))
        start = time.time()
        got = segments(binary, out)
        took = time.time() - start
        need(got == [0], f"reader during a stream paused at {point}: {got}")
        need(took < 10, f"reader during a stream paused at {point} took {took:.1f} s")
        need((sha(out), sha(journal)) == before, f"reader during a stream paused at {point} changed the file or the journal")
        done = subprocess.run([binary, "recover", out], capture_output=True, text=True)
        need(done.returncode != 0 and "being written by another process" in done.stderr, f"recover during a live write: {done.returncode} {done.stderr.strip()}")
        job.kill()
        print(f"  a reader during a stream paused at its {point}: checkpoint 0 read, nothing changed, recover refused", flush=True)
        if point != "commit":
            continue
        os.chmod(work, 0o755)
        os.chmod(out, 0o444)
        os.chmod(journal, 0o444)
        before = (sha(out), sha(journal), os.stat(out).st_mtime_ns)
        # As root, read as nobody (root would write anyway); else as this user.
        got = segments(binary, out, user="65534" if os.geteuid() == 0 else None)
        need(got == [0], f"a read-only file with a stale journal, read with read permission only: {got}")
        need((sha(out), sha(journal), os.stat(out).st_mtime_ns) == before, "reading a file with a stale journal changed it")
        os.chmod(out, 0o644)
        done = subprocess.run([binary, "recover", out], capture_output=True, text=True)
        need(done.returncode == 0 and "rolled back" in done.stdout, f"recover of the stale journal: {done.stdout} {done.stderr}")
        need(segments(binary, out) == [0] and not os.path.exists(journal), "after recover")
        print("  a read-only file with a stale journal: read by a user with read permission only, unchanged; recover rolls back", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, type=fault_binary)
    a = p.parse_args()
    binary = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory(prefix="bsb-locks-") as work:
        shim = os.path.join(work, "shim.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "shim.c"), "-ldl"], check=True)
        print("locks and readers", flush=True)
        refused_locks(binary, work, shim)
        held_by_another_program(binary, work)
        readers(binary, work)
    print(f"locks and readers: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
