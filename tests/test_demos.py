"""Every demo runs on tiny sizes: as a Jupyter notebook (jupytext, executed by
nbconvert: the same code as the script), its figures written and shown inline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPECT = {"01_getting_started": "sigma_eff/sigma_bulk", "02_perforated_lib_vs_assb": "gain",
          "03_layered_design": "best f_L60", "04_running_under_mpi": "relative difference",
          "05_rate_capability_and_gitt": "relaxed voltages within"}
DEMOS = sorted((Path(__file__).resolve().parents[1] / "demos").glob("[0-9]*.py"))


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs_as_a_notebook(demo, tmp_path):
    """Each demo as a Jupyter notebook (jupytext), executed by nbconvert on tiny sizes:
    the same output as the script, figures inline where the demo shows them."""
    out = tmp_path / f"{demo.stem}.ipynb"
    env = {**os.environ, "FEM_ASSB_TINY": "1", "FEM_ASSB_DEMO_OUT": str(tmp_path / "out")}
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "jupytext"), "--to", "notebook", "-o", str(out), str(demo)],
                   check=True, capture_output=True, timeout=120)
    r = subprocess.run([str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                        "--inplace", "--ExecutePreprocessor.timeout=600", str(out)],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    cells = json.loads(out.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert EXPECT[demo.stem] in text
    images = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "no figure inline"
    pngs = list((tmp_path / "out").rglob("*.png"))
    assert pngs and min(p.stat().st_size for p in pngs) > 10_000
