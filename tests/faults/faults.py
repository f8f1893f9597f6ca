#!/usr/bin/env python3
"""Fault injection for `simulate --stream` under mpirun: kill the job at many moments (at
pause points inside a checkpoint's write, and at random times), kill one rank after
checkpoint 1 of 3, and inject I/O errors; each time the file must hold exactly the
complete checkpoints, readable by Neo (after `bsb-results recover` where a kill landed in
the middle of a commit).

usage: faults.py --bin target/release/bsb-results --ranks 2 4 [--random 5]
(the binary built with `cargo build --release --features test-hooks`, for `simulate --fault`)
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings

warnings.simplefilter("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "neo"))
from neo_files import read_blocks  # noqa: E402
from checks import ENV, fault_binary, need, problems  # noqa: E402

CHECKPOINTS = 4
SMALL = (40, 4)
#: Random kills use a heavier run, so that many land inside a checkpoint's write.
LARGE = (3000, 40)


class Job:
    """An mpirun job whose stderr is collected as it comes."""

    def __init__(self, binary, ranks, out, extra, shape=SMALL, quiet=True):
        self.token = out
        cells, voltage = shape
        sizes = ["--cells", str(cells), "--voltage-cells", str(voltage), "--duration-ms", "400", "--resolution-ms", "0.5"]
        sizes += ["--quiet"] if quiet else []
        cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), binary, "simulate", "--stream", "--out", out, *sizes, *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, text, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if any(text in line for line in self.lines):
                return True
            if self.proc.poll() is not None:
                self.reader.join(1)
                return any(text in line for line in self.lines)
            time.sleep(0.01)
        return False

    def pids(self, rank=None):
        """The rank processes of this job (all, or the one of `rank`)."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().decode(errors="replace")
                if self.token not in cmdline or "mpirun" in cmdline.split("\0")[0]:
                    continue
                if rank is not None:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        env = f.read().decode(errors="replace").split("\0")
                    if f"OMPI_COMM_WORLD_RANK={rank}" not in env:
                        continue
                found.append(int(pid))
            except OSError:
                pass
        return found

    def kill_all(self):
        """SIGKILL to every rank and to mpirun: each rank has its own process group."""
        for _ in range(50):
            pids = self.pids()
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

    def finish(self, timeout=120):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            need(False, f"{self.token}: job hung")
        self.reader.join(5)
        return self.proc.returncode


def read_checkpoints(path, shape=SMALL):
    """Neo's view: checkpoint indices, whether each is complete, and finished_at."""
    cells_expected, voltage = shape
    blocks = read_blocks(path)
    b = blocks[-1]
    indices, complete = [], []
    for s in b.segments:
        indices.append(int(s.annotations["checkpoint_index"]))
        cells = [st for st in s.spiketrains if "bsb_ps_name" in st.annotations]
        samples = round((s.annotations["t_stop_ms"] - s.annotations["t_start_ms"]) / 0.5)
        complete.append(len(cells) == cells_expected and len(s.analogsignals) == 2 * voltage
                        and all(len(a) == samples for a in s.analogsignals))
    return len(blocks), indices, all(complete), json.loads(b.annotations["bsb_provenance"])["finished_at"]


def count_checkpoints(path, shape):
    """A fast structural view with h5py (Neo takes minutes on the large files): checkpoint
    indices, whether each segment holds every cell's train and full signals, finished_at."""
    import h5py
    cells, voltage = shape
    with h5py.File(path, "r") as f:
        block = f["data"][list(f["data"])[-1]]
        props = block["metadata/properties"]
        finished = json.loads(props["bsb_provenance"][0])["finished_at"]
        found = []
        for name in block["groups"]:
            seg = block["groups"][name]
            p = seg["metadata/properties"]
            t0, t1 = p["t_start_ms"][0], p["t_stop_ms"][0]
            trains = len(seg["multi_tags"]) if "multi_tags" in seg else 0
            arrays = [seg["data_arrays"][a] for a in seg["data_arrays"]] if "data_arrays" in seg else []
            full = trains >= cells and len(arrays) == 2 * voltage and all(len(a["data"]) == round((t1 - t0) / 0.5) for a in arrays)
            found.append((int(p["checkpoint_index"][0]), full))
    found.sort()
    return [i for i, _ in found], all(ok for _, ok in found), finished


def recover(binary, path):
    done = subprocess.run([binary, "recover", path], capture_output=True, text=True)
    need(done.returncode == 0, f"recover {path}: {done.stderr.strip()}")
    return "rolled back" in done.stdout


def expect_checkpoints(binary, path, k, neo_before_recovery):
    """The file holds exactly checkpoints 0..k-1, complete; none at all when k == 0."""
    journal = os.path.exists(path + "-journal")
    if k == 0:
        need(not os.path.exists(path), f"{path}: a file exists under the final name before its first checkpoint committed")
        return
    if neo_before_recovery:
        try:
            _, indices, complete, finished = read_checkpoints(path)
            need(indices == list(range(k)) and complete, f"{path}: Neo without recovery saw {indices} (complete={complete})")
        except Exception as e:  # noqa: BLE001
            need(False, f"{path}: Neo could not open the file before recovery: {e}")
    recover(binary, path)
    need(not os.path.exists(path + "-journal"), f"{path}: journal left after recover")
    _, indices, complete, finished = read_checkpoints(path)
    need(indices == list(range(k)), f"{path}: checkpoints {indices}, expected 0..{k - 1} (journal was {'there' if journal else 'absent'})")
    need(complete, f"{path}: a checkpoint is incomplete")
    need(finished is None, f"{path}: finished_at is {finished!r} for a killed run")


def pause_kills(binary, ranks, work):
    """Kill the job at each pause point of the first, a middle and the last checkpoint's write."""
    for write in (0, 2, CHECKPOINTS - 1):
        for point in ("layout", "data", "commit"):
            rank = 0 if point != "data" else ranks - 1
            out = f"{work}/pause-{ranks}-{write}-{point}-{uuid.uuid4().hex[:6]}.nio"
            job = Job(binary, ranks, out, ["--checkpoints", str(CHECKPOINTS), "--fault", f"{write}:{point}:{rank}:pause"])
            paused = need(job.wait_for("PAUSED"), f"{out}: never paused at {point}")
            job.kill_all()
            if paused:
                expect_checkpoints(binary, out, write, neo_before_recovery=point != "commit")
            print(f"  {ranks} ranks, killed in write {write} at {point}: ok", flush=True)


def random_kills(binary, ranks, work, runs, rng):
    """Kill the job at random moments of a longer run (8 checkpoints of 3,000 cells)."""
    counts, journals = [], 0
    for i in range(runs):
        out = f"{work}/random-{ranks}-{i}-{uuid.uuid4().hex[:6]}.nio"
        job = Job(binary, ranks, out, ["--checkpoints", "8", "--compute-ms", "100"], shape=LARGE)
        time.sleep(rng.uniform(0.5, 5.0))
        job.kill_all()
        journals += os.path.exists(out + "-journal")
        recover(binary, out)
        if not os.path.exists(out):
            counts.append(0)
            continue
        indices, complete, finished = count_checkpoints(out, LARGE)
        need(indices == list(range(len(indices))) and complete, f"{out}: checkpoints {indices} (complete={complete})")
        need(finished is None or len(indices) == 8, f"{out}: finished_at set on an unfinished run")
        counts.append(len(indices))
    print(f"  {ranks} ranks, {runs} random kills: complete checkpoints {counts}; {journals} kills inside a write", flush=True)


def kill_one_rank(binary, ranks, work):
    """Kill rank 1 after checkpoint 1 of 3 was written: the file keeps checkpoints 0 and 1."""
    out = f"{work}/rank-{ranks}-{uuid.uuid4().hex[:6]}.nio"
    job = Job(binary, ranks, out, ["--checkpoints", "3", "--compute-ms", "1500"], quiet=False)
    # Rank 0 reports each committed checkpoint on stderr: kill once checkpoint 1 is in,
    # during the 1.5 s the ranks then spend computing checkpoint 2.
    need(job.wait_for("checkpoint 1 written"), f"{out}: checkpoint 1 was never reported")
    for pid in job.pids(rank=1):
        os.kill(pid, signal.SIGKILL)
    code = job.finish()
    need(code != 0, f"{out}: job survived the loss of rank 1")
    recover(binary, out)
    _, indices, complete, finished = read_checkpoints(out)
    need(indices == [0, 1] and complete, f"{out}: checkpoints {indices} after rank 1 died after checkpoint 1")
    need(finished is None, f"{out}: finished_at is {finished!r} for a killed run")
    print(f"  {ranks} ranks, rank 1 killed after checkpoint 1: file holds {indices}", flush=True)


def injected_errors(binary, ranks, work):
    """An I/O error on one rank (data phase), or on rank 0 (layout, commit): every rank
    fails with the same error naming the rank, nobody hangs, the file keeps checkpoint 0."""
    for point, rank in (("data", ranks - 1), ("layout", 0), ("commit", 0)):
        out = f"{work}/fail-{ranks}-{point}-{uuid.uuid4().hex[:6]}.nio"
        job = Job(binary, ranks, out, ["--checkpoints", "3", "--fault", f"1:{point}:{rank}:fail"])
        code = job.finish()
        text = "".join(job.lines)
        need(code != 0, f"{out}: the injected fault did not fail the job")
        need(f"rank {rank} failed" in text and "injected fault" in text, f"{out}: error does not name rank {rank}: {text.strip()[-300:]}")
        need(not os.path.exists(out + "-journal"), f"{out}: journal left behind after a failed write")
        _, indices, complete, _ = read_checkpoints(out)
        need(indices == [0] and complete, f"{out}: checkpoints {indices} after a failed second write")
        print(f"  {ranks} ranks, I/O error on rank {rank} at {point}: every rank failed, file keeps checkpoint 0", flush=True)


def replace_is_atomic(binary, ranks, work):
    """`ow` on an existing file: killed before the first checkpoint commits, the old file
    is untouched."""
    out = f"{work}/replace-{ranks}-{uuid.uuid4().hex[:6]}.nio"
    with open(out, "wb") as f:
        f.write(b"previous results")
    job = Job(binary, ranks, out, ["--checkpoints", "2", "--fault", "0:data:0:pause"])
    need(job.wait_for("PAUSED"), f"{out}: never paused")
    job.kill_all()
    with open(out, "rb") as f:
        need(f.read() == b"previous results", f"{out}: the old file changed before the new one was complete")
    print(f"  {ranks} ranks, ow killed before its first commit: old file intact", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, type=fault_binary)
    p.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    p.add_argument("--random", type=int, default=4, help="random kills per rank count")
    p.add_argument("--seed", type=int, default=int(time.time()))
    a = p.parse_args()
    rng = random.Random(a.seed)
    print(f"fault injection (random seed {a.seed})", flush=True)
    with tempfile.TemporaryDirectory(prefix="bsb-faults-") as work:
        for ranks in a.ranks:
            pause_kills(a.bin, ranks, work)
            random_kills(a.bin, ranks, work, a.random, rng)
            kill_one_rank(a.bin, ranks, work)
            injected_errors(a.bin, ranks, work)
            replace_is_atomic(a.bin, ranks, work)
    print(f"fault injection: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
