"""The ASGI stack benchmark drives BentoML's real app in-process for both variants and prints them
side by side (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "asgi_stack.py"


def test_benchmark_prints_bentoml_defaults_beside_modelyard_s_servers():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--requests", "200", "--rounds", "1"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "BentoML defaults" in completed.stdout and "without tracing (Modelyard's servers)" in completed.stdout
    assert "1.00x" in completed.stdout
