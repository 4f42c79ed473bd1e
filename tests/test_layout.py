"""The project runs from its repository: nothing installs its generic top-level names (`utils`, `models`,
`main`, ...) into site-packages, and its commands find their own modules from any working directory."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_nothing_installs_the_projects_top_level_names():
    for name in ("pyproject.toml", "setup.py", "setup.cfg"):
        assert not os.path.exists(os.path.join(ROOT, name)), f"{name} would install names such as utils and models"


# main.py alone: the other commands find their modules the same way (Python puts a script's folder first on
# sys.path), and each of them imports torch before it parses its arguments, a few seconds per test.
@pytest.mark.parametrize("command", ["main.py"])
def test_the_commands_run_from_outside_the_repository(command, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, command), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {command}")
