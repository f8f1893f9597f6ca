#!/usr/bin/env python3
"""A crash at every write: for each call that changes a file of the write under test
(HDF5 through the overlay driver, MPI-IO, the journal, truncations, renames, unlinks,
fsyncs), stop the job right after that call, and again with the call torn (only the first
half of its bytes written); then `bsb-results recover`, and the file must open with Neo,
h5py and our reader and hold exactly what was committed.

- `--stream` (2 ranks, 3 checkpoints): the calls of checkpoint 1's write; afterwards the
  file holds checkpoints 0..j, j = 1 once rank 0 deleted the journal, else 0.
- `ow` over an older file: the old file, byte for byte, until the rename; the complete new
  file after.
- `rw` on an older file: the old file, byte for byte, until the journal is deleted; both
  runs after.

The calls are counted by an LD_PRELOAD shim (shim.c), once in a counting run; each crash
run stops at one of them (SIGSTOP, then SIGKILL to the whole job), not at a time.

usage: every_write.py --bin target/release/bsb-results [--stream-ranks 2] [--ranks 1]
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

warnings.simplefilter("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "neo"))
from neo_files import read_blocks  # noqa: E402
from checks import ENV, need, problems  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = ["--cells", "4", "--voltage-cells", "1", "--duration-ms", "150", "--resolution-ms", "0.5", "--quiet"]


def build_shim(work):
    shim = os.path.join(work, "shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "shim.c"), "-ldl"], check=True)
    return shim


def command(binary, ranks, out, extra, shim_env):
    cmd = [binary, "simulate", "--out", out, *SHAPE, *extra]
    if ranks == 1:
        return cmd, dict(ENV, **shim_env)
    xs = [a for k in shim_env for a in ("-x", k)]
    return ["mpirun", "--oversubscribe", "-n", str(ranks), *xs, *cmd], dict(ENV, **shim_env)


def job_pids(token):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def run(binary, ranks, out, extra, shim_env, crashed_mark=None):
    """Runs a job; with `crashed_mark`, kills the whole job once the shim stopped a rank
    there. Returns (exit status or None when killed, whether it crashed)."""
    cmd, env = command(binary, ranks, out, extra, shim_env)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    end = time.time() + 120
    while time.time() < end and proc.poll() is None and not (crashed_mark and os.path.exists(crashed_mark)):
        time.sleep(0.005)
    crashed = bool(crashed_mark and os.path.exists(crashed_mark))
    if proc.poll() is None:
        for _ in range(50):
            pids = job_pids(out)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not pids:
                break
            time.sleep(0.02)
        proc.wait(30)
        return None, crashed
    return proc.returncode, crashed


def calls(log):
    """The counted calls of one process: [(seq, op, path)], opens with the seq they follow.
    Open MPI's probe of the file system's locks (a `.locktest` file it creates and
    removes) is no write of ours and is left out."""
    out = []
    with open(log) as f:
        for line in f:
            seq, op, path, _ = line.split(" ", 3)
            if ".locktest" not in path:
                out.append((int(seq), op, path))
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ours(binary, path, run):
    done = subprocess.run([binary, "inspect", "--json", "--no-annotations", "--run", run, path], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return sorted({o["segment"] for o in json.loads(done.stdout)})


def h5py_runs(path):
    import h5py
    with h5py.File(path, "r") as f:
        return len(f["data"])


class Case:
    """One write under test: how to run it, which calls are its own, what it commits."""

    def __init__(self, name, ranks, extra, seed):
        self.name, self.ranks, self.extra, self.seed = name, ranks, extra, seed

    def prepare(self, binary, out, template):
        """Empties the directory; puts the older file there (written once into `template`)."""
        for f in os.listdir(os.path.dirname(out)):
            os.remove(os.path.join(os.path.dirname(out), f))
        if not self.seed:
            return None
        if not os.path.exists(template):
            done = subprocess.run([binary, "simulate", "--out", template, *SHAPE, "--name", "old"], capture_output=True, text=True, env=ENV)
            need(done.returncode == 0, f"seed: {done.stderr.strip()}")
        shutil.copyfile(template, out)
        return sha(out)

    def window(self, rank, log):
        """The seqs of this rank's calls that belong to the write under test, and the seq
        of its commit point (rank 0), or None."""
        counted = [(s, op, p) for s, op, p in log if not op.startswith("open")]
        if self.name != "stream":
            commit = [s for s, op, p in counted if (op == "rename" and not p.endswith("-journal")) or (op == "unlink" and p.endswith("-journal"))]
            return [s for s, _, _ in counted], (commit[-1] if commit and rank == 0 else None)
        # Checkpoint 1's write: after write 0 ended, up to where write 2 begins. Rank 0's
        # writes end with the rename (write 0) and the journal's unlink (later writes);
        # another rank's with its data phase's sync of the file.
        if rank == 0:
            ends = [s for s, op, p in counted if op == "rename" or (op == "unlink" and p.endswith("-journal"))]
            starts = [s for s, op, p in log if op == "open-create" and p.endswith("-journal")]
            if len(ends) < 2 or len(starts) < 2:
                return [], None
            return [s for s, _, _ in counted if ends[0] < s <= starts[1]], ends[1]
        ends = [s for s, op, p in counted if op in ("fsync", "fdatasync")]
        if len(ends) < 2:
            return [], None
        return [s for s, _, _ in counted if ends[0] < s <= ends[1]], None

    def check(self, binary, out, old_sha, committed, where):
        journal = os.path.exists(out + "-journal")
        partial = [n for n in os.listdir(os.path.dirname(out)) if n.endswith(".partial")]
        # The killed ranks' locks go with their last file descriptors, a moment after the
        # kill: `recover` refuses while a writer still holds the journal.
        for _ in range(50):
            done = subprocess.run([binary, "recover", out], capture_output=True, text=True)
            if "being written by another process" not in done.stderr:
                break
            time.sleep(0.05)
        if not need(done.returncode == 0, f"{where}: recover failed: {done.stderr.strip()}"):
            return
        need(("rolled back" in done.stdout) == (journal or bool(partial)), f"{where}: recover said {done.stdout.strip()!r} (journal {journal}, partial {partial})")
        left = [n for n in os.listdir(os.path.dirname(out)) if n.endswith(".partial") or n.endswith("-journal")]
        need(not left, f"{where}: left after recover: {left}")
        if self.name == "stream":
            want = [0, 1] if committed else [0]
            blocks = read_blocks(out)
            got = [int(s.annotations["checkpoint_index"]) for s in blocks[-1].segments]
            need(got == want, f"{where}: Neo reads checkpoints {got}, expected {want}")
            need(ours(binary, out, "new") == want, f"{where}: our reader reads {ours(binary, out, 'new')}, expected {want}")
            need(h5py_runs(out) == 1, f"{where}: h5py")
            return
        if not committed:
            need(sha(out) == old_sha, f"{where}: the old file changed")
        runs = {"ow": ["new"], "rw": ["old", "new"]}[self.name] if committed else ["old"]
        blocks = read_blocks(out)
        need([b.name for b in blocks] == runs, f"{where}: Neo reads runs {[b.name for b in blocks]}, expected {runs}")
        need(h5py_runs(out) == len(runs), f"{where}: h5py reads {h5py_runs(out)} runs")
        need(ours(binary, out, runs[-1]) == [0], f"{where}: our reader cannot read run {runs[-1]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--stream-ranks", type=int, default=2)
    p.add_argument("--ranks", type=int, default=1, help="ranks of the ow and rw cases")
    a = p.parse_args()
    binary = os.path.abspath(a.bin)
    start = time.time()
    cases = [
        Case("stream", a.stream_ranks, ["--stream", "--checkpoints", "3", "--name", "new"], seed=False),
        Case("ow", a.ranks, ["--name", "new"], seed=True),
        Case("rw", a.ranks, ["--mode", "rw", "--name", "new"], seed=True),
    ]
    total = 0
    with tempfile.TemporaryDirectory(prefix="bsb-every-") as work:
        shim = build_shim(work)
        data = os.path.join(work, "d")
        os.mkdir(data)
        out = os.path.join(data, "run.nio")
        for case in cases:
            logs = os.path.join(work, f"count-{case.name}")
            template = os.path.join(work, f"old-{case.name}.nio")
            case.prepare(binary, out, template)
            code, _ = run(binary, case.ranks, out, case.extra, {"LD_PRELOAD": shim, "BSB_SHIM_DIR": data, "BSB_SHIM_LOG": logs})
            need(code == 0, f"{case.name}: the counting run failed ({code})")
            points = []
            for rank in range(case.ranks):
                seqs, commit = case.window(rank, calls(f"{logs}.{rank}"))
                ops = {s: op for s, op, _ in calls(f"{logs}.{rank}")}
                need(seqs, f"{case.name}: no calls of rank {rank} found in the write under test")
                points += [(rank, s, commit, torn) for s in seqs for torn in ((False, True) if "write" in ops[s] else (False,))]
            tally = {}
            for rank, seq, commit, torn in points:
                old_sha = case.prepare(binary, out, template)
                mark = os.path.join(work, f"crash-{case.name}-{rank}-{seq}-{torn}")
                shim_env = {"LD_PRELOAD": shim, "BSB_SHIM_DIR": data, "BSB_SHIM_LOG": mark, "BSB_SHIM_CRASH": f"{rank}:{seq}{':torn' if torn else ''}"}
                _, crashed = run(binary, case.ranks, out, case.extra, shim_env, crashed_mark=f"{mark}.{rank}.crashed")
                where = f"{case.name}, rank {rank}, call {seq}{' torn' if torn else ''}"
                if not need(crashed, f"{where}: the run never reached the call"):
                    continue
                committed = commit is not None and seq >= commit
                case.check(binary, out, old_sha, committed, where)
                tally[committed] = tally.get(committed, 0) + 1
            total += len(points)
            print(f"  {case.name} ({case.ranks} rank{'s' if case.ranks > 1 else ''}): {len(points)} crash points, "
                  f"{tally.get(False, 0)} before the commit point, {tally.get(True, 0)} after", flush=True)
    print(f"crash at every write: {total} crash points in {time.time() - start:.0f} s, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
