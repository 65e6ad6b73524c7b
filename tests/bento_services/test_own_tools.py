"""``bentoml build`` runs uv; a deploy must run the one the project locks, on any machine.

The suite puts a failing ``uv`` of its own first on PATH (conftest), as a machine with one
installed by hand would have it, so a deploy that looked tools up on PATH is red everywhere.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from bento_services.bentos import bentoml_env
from infra import processes
from registry.settings import Settings
from tests.conftest import OUTSIDE_TOOLS

ROOT = Path(__file__).parents[2]
PROBE = """
import subprocess
from bentoml._internal.configuration import get_uv_command
command = get_uv_command()
print(command[0])
print(subprocess.run([*command, "--version"], capture_output=True, text=True, check=True).stdout)
"""


def locked_uv() -> str:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return next(package["version"] for package in packages if package["name"] == "uv")


def test_bentoml_subprocesses_run_the_locked_uv_from_the_venv(tmp_path):
    assert os.environ["PATH"].split(os.pathsep)[0] == str(OUTSIDE_TOOLS)  # a uv to be fooled by is there
    env = bentoml_env(Settings(home=tmp_path / "home"))

    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr[-2000:]
    found = done.stdout.splitlines()

    assert Path(found[0]).parent == processes.SCRIPTS
    assert found[1].split()[:2] == ["uv", locked_uv()]


def test_one_uv_version_for_the_makefile_the_image_and_bentoml():
    made = subprocess.run(["make", "-s", "--no-print-directory", "--eval=uv-version: ; @echo $(UV_VERSION)",
                           "uv-version"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    pinned = re.findall(r"uv==([0-9.]+)", (ROOT / "pyproject.toml").read_text())

    assert made == locked_uv() and pinned == [locked_uv()]
    assert "grep -o 'uv==[0-9.]*' pyproject.toml" in (ROOT / "Dockerfile").read_text()
