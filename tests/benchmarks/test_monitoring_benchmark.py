"""The monitoring benchmark runs end to end at a small size and prints both runners (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "monitoring.py"


def test_benchmark_prints_both_runners_and_the_target_check(tmp_path):
    completed = subprocess.run([sys.executable, str(SCRIPT), "--requests", "20000", "--rows-per-file", "5000",
                                "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "(a) naive: pandas reads all" in completed.stdout and "modelyard monitoring pass" in completed.stdout
    assert "a pass over 20,000 requests <= 60 s" in completed.stdout
