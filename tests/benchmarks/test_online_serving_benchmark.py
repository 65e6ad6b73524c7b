"""The online serving benchmark runs end to end at a tiny size and prints every runner (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "online_serving.py"


def test_benchmark_prints_every_runner_and_the_target_check(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", "rf", "--concurrency", "1,8", "--seconds", "1",
         "--warmup", "0.5", "--replicas", "1,2", "--floor-rounds", "2", "--train-rows", "2000", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=400,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    table = completed.stdout.split("model  runner", 1)[1].split("\nrequests:", 1)[0]
    lines = [line.split() for line in table.splitlines()[2:]]
    assert [(line[0], " ".join(line[1:-9]), line[-9]) for line in lines] == [
        ("rf", "(a) modelyard", "1"), ("rf", "(a) modelyard", "8"),
        ("rf", "(a) modelyard, 2 replicas", "1"), ("rf", "(a) modelyard, 2 replicas", "1"),  # alternated with (d)
        ("rf", "(a) modelyard, 2 replicas", "8"), ("rf", "(a) modelyard, 2 replicas", "8"),
        ("rf", "(a) 1 replica, request log on", "1"), ("rf", "(a) 1 replica, request log on", "8"),
        ("rf", "(a) 1 replica, request log off", "1"), ("rf", "(a) 1 replica, request log off", "8"),
        ("rf", "(a) 1 replica, no challenger", "1"), ("rf", "(a) 1 replica, no challenger", "8"),
        ("rf", "(a) 1 replica, shadow challenger 100 %", "1"), ("rf", "(a) 1 replica, shadow challenger 100 %", "8"),
        ("rf", "(a) backend direct", "1"), ("rf", "(a) backend direct", "8"),
        ("rf", "(b) mlflow serve", "1"), ("rf", "(b) mlflow serve", "8"),
        ("rf", "(c) in-process", "1"), ("rf", "(c) in-process, compiled, float rows", "1"),
        ("rf", "(d) BentoML constant answer, 2 workers", "1"), ("rf", "(d) BentoML constant answer, 2 workers", "1"),
        ("rf", "(d) BentoML constant answer, 2 workers", "8"), ("rf", "(d) BentoML constant answer, 2 workers", "8"),
    ]
    assert all(int(line[-8].replace(",", "")) > 0 for line in lines)  # requests
    assert [line[-7] for line in lines] == ["0"] * 24  # failed
    assert "[rf] runtime a deploy chooses: onnxruntime: one row" in completed.stdout
    assert "RF in-process one-row predict, compiled (float rows) / native (frame):" in completed.stdout
    assert "RF c=1 p50, 2 replicas / floor (2 workers), 2 rounds alternated and pooled:" in completed.stdout
    assert "RF c=8 req/s, 2 replicas / floor (2 workers), 2 rounds alternated and pooled:" in completed.stdout
    assert "    per round at c=8: " in completed.stdout
    assert "RF c=8 req/s, 2 replicas / mlflow models serve:" in completed.stdout
    assert "rf: (a) 20/20 single-row answers equal the in-process prediction" in completed.stdout
    assert "rf: (a) x2 20/20 single-row answers equal the in-process prediction" in completed.stdout
    assert "rf: (a) 1 replica, request log off 20/20 single-row answers equal" in completed.stdout
    assert "rf: (a) 1 replica, request log on 20/20 single-row answers equal" in completed.stdout
    assert "rf: (b) 20/20 single-row answers equal the in-process prediction" in completed.stdout
    assert "RF c=8 throughput (a)/(b):" in completed.stdout
    assert "RF c=8 p99 of (a):" in completed.stdout
    assert "RF c=8 2 replicas beside 1:" in completed.stdout
    assert "RF c=8 throughput, request log on / off:" in completed.stdout
    assert "per round, lost at c=8:" in completed.stdout and "server CPU per request at c=8, on / off:" in completed.stdout
    assert "RF c=1 p50, request log on / off:" in completed.stdout
    assert "RF c=8 p99 of the champion, shadow challenger at 100 % / none:" in completed.stdout
    assert "rf: the shadowed gateway answered" in completed.stdout
    assert "deploy-to-ready of (a): rf" in completed.stdout
    assert list(tmp_path.iterdir()) == []  # the throwaway home, models and logs are cleaned up
