"""The README's example "From Python" runs as written (in a child process of rank 0)."""

import os
import re
import subprocess
import sys

from conftest import ROOT, on_root, plain_env


def test_the_readme_example_runs(shared_dir):
    with open(os.path.join(ROOT, "README.md")) as f:
        section = f.read().split("## From Python", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)

    def check():
        done = subprocess.run([sys.executable, "-c", code], cwd=shared_dir, env=plain_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "granule_cell 42 V_m AnalogSignal" in done.stdout
        assert os.path.getsize(os.path.join(shared_dir, "run.svg")) > 0
    on_root(check)
