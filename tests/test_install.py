"""Installing onto an existing DOLFINx: the pyproject is the one dependency list, and
``pip install -e .`` in an environment that already holds DOLFINx (and the rest) installs
fem_assb alone: offline, without the ``dolfinx`` extra's wheel."""

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_install_onto_an_existing_dolfinx(tmp_path):
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "env"
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    # the existing DOLFINx environment (here: this one's packages) seen by the new one
    (Path(site.strip()) / "existing_dolfinx.pth").write_text(sysconfig.get_paths()["purelib"])
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        "-e", str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    own = {p.name.split("-")[0].lower() for p in Path(site.strip()).glob("*.dist-info")}
    assert "fem_assb" in own and not own & {"dolfinx_solver_real", "numpy", "mpi4py"}
    r = subprocess.run([str(py), "-c", "import fem_assb, fem_assb.structure; "
                        "print(fem_assb.__file__)"], capture_output=True, text=True)
    assert r.returncode == 0 and str(ROOT) in r.stdout, r.stderr
