"""The GPU check script runs end to end on CPU (its cpu-smoke preset): the same code path as
on the GPU, tiny."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_cpu(tmp_path):
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--preset", "cpu-smoke",
                          "--device", "cpu", "--results", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env={"PYTHON": sys.executable,
                                                                            "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "gpu_check-cpu-smoke.json").read_text())
    for stage in ("training", "generation"):
        assert report[stage]["tokens_per_s"] > 0 and report[stage]["mfu"] is None  # no peak on CPU
    assert Path(report["rebound_result"]).is_file() and "tokens/s" in out.stdout
