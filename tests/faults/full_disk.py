#!/usr/bin/env python3
"""A full disk: `simulate` on a small tmpfs that is filled while a write is paused at its
layout, its data phase or its commit, for `ow`, `rw` and `--stream`, as a plain process
and under `mpirun -n 2`. Each job must end with a clear error and a non-zero status (no
signal), leave no `.partial` and no journal, and leave the target as it was: `ow` the old
file, `rw` the old file byte for byte, a stream its committed checkpoints (checked with
Neo). A write whose data cannot fit is refused up front with the figures.

Needs to mount a tmpfs (root, or an unprivileged user namespace via `unshare`); where
neither works it says so and skips.

usage: full_disk.py --bin target/release/bsb-results
(the binary built with `cargo build --release --features test-hooks`, for `simulate --fault`)
"""
import argparse
import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings

warnings.simplefilter("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "neo"))
from neo_files import read_blocks  # noqa: E402
from checks import ENV, fault_binary, need, problems  # noqa: E402

SHAPE = ["--cells", "40", "--voltage-cells", "40", "--duration-ms", "400", "--resolution-ms", "0.5", "--quiet"]


def mount(disk, size):
    """Mounts a tmpfs of `size` at `disk`; returns None or why it cannot."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", disk], capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip() or f"mount exited {done.returncode}"


def fill(disk):
    """Writes filler files until the file system is full (to the last small block)."""
    for name, block in (("filler", 1 << 16), ("filler2", 512)):
        fd = os.open(os.path.join(disk, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * block)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)


def empty(disk):
    for name in os.listdir(disk):
        os.remove(os.path.join(disk, name))


def launch(binary, ranks, out, extra, env):
    cmd = [binary, "simulate", "--out", out, *SHAPE, *extra]
    if ranks > 1:
        cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    return proc, lines, reader


def run(binary, ranks, out, extra, disk, resume):
    """Runs a job that pauses at its fault point, fills the disk, lets it go on; returns
    (exit status, stderr)."""
    env = dict(ENV, BSB_FAULT_RESUME=resume)
    proc, lines, reader = launch(binary, ranks, out, extra, env)
    end = time.time() + 120
    while time.time() < end and not any("PAUSED" in line for line in lines) and proc.poll() is None:
        time.sleep(0.01)
    need(any("PAUSED" in line for line in lines), f"{out}: never paused ({''.join(lines)[-300:]})")
    try:
        fill(disk)
        open(resume, "w").close()
        proc.wait(120)
    except subprocess.TimeoutExpired:
        need(False, f"{out}: hung after the disk filled")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    os.remove(resume)
    return proc.returncode, "".join(lines)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def checkpoints(path):
    blocks = read_blocks(path)
    return len(blocks), [int(s.annotations["checkpoint_index"]) for s in blocks[-1].segments]


def seed(binary, disk, name):
    """An earlier, complete run in `disk` to change or replace."""
    out = os.path.join(disk, name)
    done = subprocess.run([binary, "simulate", "--out", out, *SHAPE, "--name", "old"], capture_output=True, text=True, env=ENV)
    need(done.returncode == 0, f"seed {out}: {done.stderr.strip()}")
    return out


def scenario(binary, ranks, disk, work, mode, point):
    empty(disk)
    rank = ranks - 1 if point == "data" else 0
    write = 1 if mode == "stream" else 0
    name = f"{mode}-{point}-{ranks}.nio"
    out = seed(binary, disk, name) if mode in ("ow", "rw") else os.path.join(disk, name)
    before = sha(out) if os.path.exists(out) else None
    extra = {"ow": [], "rw": ["--mode", "rw"], "stream": ["--stream", "--checkpoints", "3"]}[mode]
    code, err = run(binary, ranks, out, [*extra, "--name", "new", "--fault", f"{write}:{point}:{rank}:pause"], disk, os.path.join(work, "resume"))
    failed = code != 0
    need(code >= 0 and code < 128, f"{name}: exit status {code} (a signal?): {err[-300:]}")
    if failed:
        need("No space left on device" in err or "space" in err.lower(), f"{name}: error does not say the disk is full: {err.strip()[-300:]}")
        need(err.count("error:") >= 1 and "panicked" not in err and "Segmentation" not in err, f"{name}: unclear error: {err.strip()[-300:]}")
    left = [n for n in os.listdir(disk) if n.endswith(".partial") or n.endswith("-journal")]
    need(not left, f"{name}: left behind {left}")
    os.remove(os.path.join(disk, "filler"))
    if os.path.exists(os.path.join(disk, "filler2")):
        os.remove(os.path.join(disk, "filler2"))
    if mode in ("ow", "rw") and failed:
        need(sha(out) == before, f"{name}: the old file changed")
        blocks, _ = checkpoints(out)
        need(blocks == 1, f"{name}: Neo reads {blocks} runs in the old file")
    elif mode in ("ow", "rw"):
        blocks, _ = checkpoints(out)
        need(blocks == (2 if mode == "rw" else 1), f"{name}: Neo reads {blocks} runs after a complete write")
    else:
        _, indices = checkpoints(out)
        need(failed and indices in ([0], [0, 1]), f"{name}: checkpoints {indices} (exit status {code})")
    said = next((line for line in err.splitlines() if line.startswith("error:")), "")
    outcome = f"failed cleanly (status {code}): {said[:150]}" if failed else "completed (what was left to write needed no new space)"
    print(f"  {ranks} rank(s), {mode}, disk filled at {point}: {outcome}", flush=True)


def refused_up_front(binary, disk):
    empty(disk)
    out = os.path.join(disk, "big.nio")
    big = ["--cells", "2000", "--voltage-cells", "200", "--duration-ms", "2000", "--resolution-ms", "0.1", "--quiet"]
    done = subprocess.run([binary, "simulate", "--out", out, *big], capture_output=True, text=True, env=ENV)
    need(done.returncode == 1 and "MB free" in done.stderr, f"a write larger than the disk: status {done.returncode}: {done.stderr.strip()[-300:]}")
    need(os.listdir(disk) == [], f"a refused write left {os.listdir(disk)}")
    print(f"  a write larger than the disk is refused up front: {done.stderr.strip().splitlines()[-1][:160]}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, type=fault_binary)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    binary = os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory(prefix="bsb-full-") as work:
        disk = os.path.join(work, "disk")
        os.mkdir(disk)
        why = mount(disk, "24m")
        if why is not None and not a.in_namespace:
            # Not root: try again in an unprivileged user and mount namespace.
            userns = ["unshare", "--user", "--map-root-user", "--mount"]
            probe = subprocess.run([*userns, "true"], capture_output=True, text=True)
            if probe.returncode == 0:
                sys.exit(subprocess.run([*userns, sys.executable, *sys.argv, "--in-namespace"]).returncode)
            why += f"; unshare: {probe.stderr.strip()}"
        if why is not None:
            print(f"full disk: SKIPPED, cannot mount a small tmpfs here ({why})")
            sys.exit(0)
        try:
            print("full disk: a 24 MB tmpfs, filled while a write is paused", flush=True)
            refused_up_front(binary, disk)
            for ranks in a.ranks:
                for mode in ("ow", "rw", "stream"):
                    for point in ("layout", "data", "commit"):
                        if point == "data" and ranks == 1:
                            continue  # a lone rank writes its data during the layout
                        scenario(binary, ranks, disk, work, mode, point)
        finally:
            subprocess.run(["umount", "-l", disk])
    print(f"full disk: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
