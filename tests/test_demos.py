"""Every demo runs as a script on tiny sizes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = sorted((Path(__file__).resolve().parents[1] / "demos").glob("[0-9]*.py"))


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs(demo, tmp_path):
    env = {**os.environ, "FEM_ASSB_TINY": "1", "FEM_ASSB_DEMO_OUT": str(tmp_path)}
    r = subprocess.run([sys.executable, str(demo)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "sigma_eff/sigma_bulk" in r.stdout
    assert (tmp_path / "sections.png").stat().st_size > 10_000
