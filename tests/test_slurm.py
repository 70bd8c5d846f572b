"""The SLURM job script's logic, with a stub ``srun`` and ``fem-assb``: it makes the
output directory, activates the environment, resumes from a checkpoint, passes the
wall-time warning (USR1) on as SIGTERM, and says what to do for each ending."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docker" / "slurm_discharge.sh"
STUB = """#!/bin/bash
echo "$@" > "$STUB_LOG"
trap 'exit 143' TERM
if [ -n "${STUB_SLEEP:-}" ]; then sleep "$STUB_SLEEP" & wait $!; fi
echo '{"stop_reason": "voltage_limit"}'
exit "${STUB_RC:-0}"
"""


@pytest.fixture
def env(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "fem-assb").write_text(STUB)
    (venv / "bin" / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (venv / "bin" / "activate").write_text(f'export PATH="{venv / "bin"}:$PATH"\n')
    for f in ("fem-assb", "srun"):
        (venv / "bin" / f).chmod(0o755)
    return {**os.environ, "FEM_ASSB_VENV": str(venv), "STUB_LOG": str(tmp_path / "args"),
            "OUT": str(tmp_path / "results" / "run")}


def _run(env, **extra):
    return subprocess.run(["bash", str(SCRIPT), "cell.npz", "4"], env={**env, **extra},
                          capture_output=True, text=True, timeout=60)


def test_a_first_job_makes_its_output_and_runs(env, tmp_path):
    r = _run(env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "finished" in r.stdout
    assert (tmp_path / "results" / "run" / "result.json").read_text().startswith("{")
    args = (tmp_path / "args").read_text()
    assert "--current-density 4" in args and "--resume" not in args


def test_a_later_job_resumes(env, tmp_path):
    ck = tmp_path / "results" / "run" / "checkpoint"
    ck.mkdir(parents=True)
    (ck / "state.json").write_text("{}")
    assert _run(env).returncode == 0
    assert "--resume" in (tmp_path / "args").read_text()


@pytest.mark.parametrize("rc, says", [(2, "invalid input"), (4, "did not finish"),
                                      (143, "resubmit")])
def test_each_ending_says_what_to_do(env, rc, says):
    r = _run(env, STUB_RC=str(rc))
    assert r.returncode == rc and says in r.stdout


def test_the_wall_time_warning_stops_the_run_for_a_resubmit(env):
    p = subprocess.Popen(["bash", str(SCRIPT), "cell.npz", "4"],
                         env={**env, "STUB_SLEEP": "30"}, stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 143 and "resubmit" in out
