"""SIGTERM handling in the commands' processes and the workers they fork."""
import subprocess
import sys

from tests.conftest import ROOT

POOL = """
import multiprocessing
from utils.errors import sigterm_as_interrupt
with sigterm_as_interrupt():
    for _ in range(5):
        with multiprocessing.get_context("fork").Pool(8) as pool:
            total = sum(pool.map(abs, range(-500, 500), chunksize=1))
    print(total)
"""


def test_pool_workers_a_command_forks_end_quietly():
    """A pool ends its workers with SIGTERM when it closes (the demo's data generation does): they
    inherit the command's handler but must not raise in the parent's place and print tracebacks."""
    out = subprocess.run([sys.executable, "-c", POOL], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "250000"
    assert out.stderr == ""
