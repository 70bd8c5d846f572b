"""Every demo runs as a script on tiny sizes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPECT = {"01_getting_started": "sigma_eff/sigma_bulk", "02_perforated_lib_vs_assb": "gain",
          "03_layered_design": "best f_L60", "04_running_under_mpi": "relative difference"}
DEMOS = sorted((Path(__file__).resolve().parents[1] / "demos").glob("[0-9]*.py"))


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs(demo, tmp_path):
    env = {**os.environ, "FEM_ASSB_TINY": "1", "FEM_ASSB_DEMO_OUT": str(tmp_path)}
    r = subprocess.run([sys.executable, str(demo)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert EXPECT[demo.stem] in r.stdout
    pngs = list(tmp_path.rglob("*.png"))
    assert pngs and min(p.stat().st_size for p in pngs) > 10_000
