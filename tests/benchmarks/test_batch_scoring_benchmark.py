"""The batch scoring benchmark runs end to end at a tiny size and prints every runner (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "batch_scoring.py"


@pytest.mark.timeout(900)  # seven runners, each a cold process: 476 s of a busy machine's fresh CI
def test_benchmark_prints_every_runner_and_the_target_check(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "20000", "--big-rows", "40000", "--rows-per-file", "10000",
         "--train-rows", "5000", "--models", "rf", "--mlflow-rows", "10000", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=840,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    table = completed.stdout.split("model  runner", 1)[1].split("\nwall s:", 1)[0]
    lines = [line.split() for line in table.splitlines()[2:]]
    assert [(line[0], " ".join(line[1:-8])) for line in lines] == [
        ("rf", "(a) pandas script"), ("rf", "modelyard, cold"), ("rf", "(b) mlflow CLI"),
        ("rf", "bare predict_proba, 1 core"), ("rf", "modelyard, warm cluster"), ("rf", "(a) pandas script"),
        ("rf", "modelyard, warm cluster")]
    assert [line[-8] for line in lines] == ["20,000", "20,000", "10,000", "20,000", "20,000", "40,000", "40,000"]
    assert "capped at 10,000 rows (--mlflow-rows)" in completed.stdout
    targets = completed.stdout.split("Targets (issue #11)", 1)[1].split("model limit:", 1)[0]
    verdicts = [line.rsplit("  ", 1)[-1].strip() for line in targets.splitlines()[3:] if line.strip()]
    assert len(verdicts) == 7 and set(verdicts[:6]) <= {"PASS", "FAIL"}, targets
    assert completed.stdout.count("labels agree on 100.00%") == 2
    assert "vs (b) on its 10,000 rows 100.00%" in completed.stdout
    assert "validate: GX suite run" in completed.stdout  # the cold run's forked workers report their stages
    assert "run driven inside the warm cluster" in completed.stdout  # the warm runs hand the driver to it
    assert list(tmp_path.iterdir()) == []  # the generated data is cleaned up
