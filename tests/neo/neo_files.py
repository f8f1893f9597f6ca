"""What the Neo checks share: reading a NIX file with Neo, and reporting problems."""
import sys
import warnings

warnings.simplefilter("ignore")
from neo.io import NixIO  # noqa: E402


def read_blocks(path):
    """Every Block of a NIX file, as Neo's NixIO reads them."""
    io = NixIO(path, mode="ro")
    try:
        return io.read_all_blocks()
    finally:
        io.close()


def read_block(path):
    """The first Block of a NIX file, as Neo's NixIO reads it."""
    io = NixIO(path, mode="ro")
    try:
        return io.read_block()
    finally:
        io.close()


def finish(problems, label="PROBLEM", limit=40):
    """Prints the first problems and exits non-zero if there are any."""
    for p in problems[:limit]:
        print(label, p)
    sys.exit(1 if problems else 0)
