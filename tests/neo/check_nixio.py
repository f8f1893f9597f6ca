#!/usr/bin/env python3
"""Our files through nixio 1.5.4, the NIX reference library, as NIX tools open them.

For each FILE: open it with `nixio.File.open(path, ReadOnly)`, read `created_at` and
`updated_at` of every entity (the file, Blocks, Groups, DataArrays, MultiTags, every
Section, the ones reached through `metadata` links included, and every Property), check
that no entity was updated after its Block or the file, and run `validate()`. Then Neo
reads the file and writes the same Blocks anew (as a user converting it would), and the
two files are compared: ours must report no more validation errors than Neo's, both by
`validate()` (which walks the `/metadata` tree only) and by nixio's checks applied to every
entity.

With --old, the checker checks itself and our reader: an older file of this crate (written
before the timestamps) must fail here, `inspect` must read it, and a run added to a copy
of it with `simulate --mode rw` must be read beside the old one.

usage: check_nixio.py [--bin BIN --old OLD.nio --dir DIR] FILE [FILE ...]
"""
import argparse
import os
import shutil
import subprocess
import sys
import warnings

warnings.simplefilter("ignore")
import nixio  # noqa: E402
from nixio import validator  # noqa: E402
from neo.io import NixIO  # noqa: E402
from neo_files import finish, read_blocks  # noqa: E402


def sections(section, where):
    """A section, its properties and its subsections, depth first."""
    yield where, section, validator.check_section
    for p in section.props:
        yield f"{where}/properties/{p.name}", p, None
    for s in section.sections:
        yield from sections(s, f"{where}/sections/{s.name}")


def with_metadata(entity, where, check):
    yield where, entity, check
    if entity.metadata is not None:
        yield from sections(entity.metadata, f"{where}/metadata")


def entities(f):
    """(path, entity, nixio check or None) of every entity of a file, once each, by block
    (None for the entities outside any block)."""
    seen = set()

    def once(block, items):
        for where, e, check in items:
            key = (type(e).__name__, e.id)
            if key not in seen:
                seen.add(key)
                yield block, where, e, check

    for s in f.sections:
        yield from once(None, sections(s, f"/metadata/{s.name}"))
    for b in f.blocks:
        root = f"/data/{b.name}"
        yield from once(b, with_metadata(b, root, validator.check_block))
        for kind, items, check in (("groups", b.groups, validator.check_group),
                                   ("data_arrays", b.data_arrays, validator.check_data_array),
                                   ("multi_tags", b.multi_tags, validator.check_multi_tag)):
            for e in items:
                yield from once(b, with_metadata(e, f"{root}/{kind}/{e.name}", check))


def stamp(e, where, problems):
    """(created_at, updated_at) of an entity as nixio reads them, or None with a problem."""
    try:
        created, updated = e.created_at, e.updated_at
    except (TypeError, ValueError) as err:  # nixio's strptime of a missing or bad value
        problems.append(f"{where}: nixio cannot read created_at/updated_at ({err})")
        return None
    if created > updated:
        problems.append(f"{where}: created_at {created} is after updated_at {updated}")
    return created, updated


def inspect_file(path, ours=True):
    """(problems, validate() error count, all-entity error count, entity count). In `ours`,
    no entity may be updated after its Block or the file (a write updates both; Neo
    does not)."""
    problems = []
    f = nixio.File.open(path, nixio.FileMode.ReadOnly)
    try:
        file_times = stamp(f, "/", problems)
        latest, deep, count = {}, 0, 0
        for block, where, e, check in entities(f):
            count += 1
            times = stamp(e, where, problems)
            if times and check is not None:  # a Section's check covers its Properties
                deep += len(check(e)[0])
            if times and block is not None and e is not block:
                latest[block.id] = max(latest.get(block.id, times[1]), times[1])
        for b in f.blocks if ours else []:
            times = stamp(b, f"/data/{b.name}", [])
            if times and b.id in latest and times[1] < latest[b.id]:
                problems.append(f"/data/{b.name}: updated_at {times[1]} is before that of an entity in it ({latest[b.id]})")
        if ours and file_times and latest and file_times[1] < max(latest.values()):
            problems.append(f"/: updated_at {file_times[1]} is before that of an entity ({max(latest.values())})")
        if problems:
            return [f"{path}: {p}" for p in problems], None, None, count
        try:
            result = f.validate()
        except Exception as err:  # noqa: BLE001 -- any crash of validate() is the finding
            return [f"{path}: validate() fails: {type(err).__name__}: {err}"], None, None, count
        return [], sum(len(v) for v in result["errors"].values()), deep, count
    finally:
        f.close()


def neo_copy(path, target):
    """Neo reads every Block of `path` and writes them to `target`."""
    blocks = read_blocks(path)
    for o in [x for b in blocks for x in (b, *b.segments, *[y for s in b.segments for y in (*s.spiketrains, *s.analogsignals)])]:
        o.annotations.pop("nix_name", None)
    io = NixIO(target, mode="ow")
    try:
        io.write_all_blocks(blocks)
    finally:
        io.close()
    return len(blocks)


def check_file(path, work):
    problems, errors, deep, count = inspect_file(path)
    if problems:
        return problems
    neo_path = os.path.join(work, "neo-" + os.path.basename(path))
    blocks = neo_copy(path, neo_path)
    neo_problems, neo_errors, neo_deep, neo_count = inspect_file(neo_path, ours=False)
    if neo_problems:
        return [f"Neo's copy: {p}" for p in neo_problems]
    print(f"{os.path.basename(path)}: {blocks} blocks, {count} entities stamped; validate() errors {errors} "
          f"(Neo's copy {neo_errors}); nixio's checks of every entity {deep} (Neo's copy {neo_deep}, {neo_count} entities)")
    out = []
    if errors > neo_errors:
        out.append(f"{path}: validate() reports {errors} errors, Neo's copy of the same Blocks {neo_errors}")
    if deep > neo_deep:
        out.append(f"{path}: nixio's checks of every entity report {deep} errors, Neo's copy {neo_deep}")
    return out


def check_old(binary, old, work):
    """An older file (no timestamps below Blocks and Segments) fails here, and our reader
    reads it, alone and with a run added by this version."""
    problems, *_ = inspect_file(old)
    out = [] if problems else [f"{old}: an older file without timestamps passed the check"]
    for cmd in ([binary, "inspect", old], [binary, "inspect", "--json", old]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            out.append(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    mixed = os.path.join(work, "mixed.nio")
    shutil.copyfile(old, mixed)
    done = subprocess.run([binary, "simulate", "--cells", "4", "--voltage-cells", "1", "--duration-ms", "10", "--quiet",
                           "--mode", "rw", "--name", "added", "--out", mixed], capture_output=True, text=True)
    if done.returncode != 0:
        return out + [f"rw append to a copy of {old}: exit {done.returncode}: {done.stderr.strip()}"]
    for run in ("simulate", "added"):
        done = subprocess.run([binary, "inspect", "--run", run, mixed], capture_output=True, text=True)
        if done.returncode != 0 or f"run        {run}" not in done.stdout:
            out.append(f"inspect --run {run} of {old} with a run added: exit {done.returncode}: {done.stderr.strip()}")
    names = [b.name for b in read_blocks(mixed)]
    if names != ["simulate", "added"]:
        out.append(f"{old} with a run added: Neo reads blocks {names}")
    f = nixio.File.open(mixed, nixio.FileMode.ReadOnly)
    try:
        added = f.blocks[-1]
        for block, where, e, _ in entities(f):
            if block is not None and block.id == added.id:
                stamp(e, where, out)
        stamp(f, "/ (updated by the append)", out)
    finally:
        f.close()
    print(f"{os.path.basename(old)} (older, without timestamps): flagged here; inspect reads it, and a run added to it")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--bin", help="bsb-results, for --old")
    p.add_argument("--old", help="an older file of this crate without the timestamps")
    p.add_argument("--dir", help="where Neo's copies go (default: a temporary directory, removed)")
    a = p.parse_args()
    work = a.dir or __import__("tempfile").mkdtemp(prefix="check-nixio-")
    os.makedirs(work, exist_ok=True)
    try:
        problems = []
        for path in a.files:
            problems += check_file(path, work)
        if a.old:
            problems += check_old(a.bin, a.old, work)
    finally:
        if not a.dir:
            shutil.rmtree(work, ignore_errors=True)
    finish(problems)


if __name__ == "__main__":
    sys.exit(main())
