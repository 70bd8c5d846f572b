"""The documentation works as written: README.md is a front door (≤ 200 lines), every
relative link resolves, the site builds without warnings, and the code blocks run (the
Python and TOML blocks of every page, the README's command lines, at tiny size)."""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BIN = Path(sys.executable).parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), re.S)


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert text.count("```bash\nmake demo") == 1 and "make test" in text


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: {target}"


def test_the_site_builds_without_warnings(tmp_path):
    r = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "-d", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "reference" / "api" / "index.html").is_file()
    assert (tmp_path / "demos" / "01_getting_started" / "index.html").is_file()


PY_BLOCKS = [(p, k, b) for p in PAGES for k, b in enumerate(blocks(p, "python"))]


@pytest.mark.parametrize("page, k, code", PY_BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}#{k}" for p, k, _ in PY_BLOCKS])
def test_python_blocks_run(page, k, code, tmp_path):
    code = "import matplotlib\nmatplotlib.use('Agg')\n" + code
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]


TOML_BLOCKS = [(p, b) for p in PAGES for b in blocks(p, "toml")]


@pytest.mark.parametrize("page, text", TOML_BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}" for p, _ in TOML_BLOCKS])
def test_toml_blocks_are_valid_files(page, text):
    """A study config (it has a family) loads as one; the others are parameter files."""
    from fem_assb.materials import default_parameters
    from fem_assb.studies.cases import expand
    from fem_assb.studies.config import parse_config

    data = tomllib.loads(text)
    if "family" in data:
        assert expand(parse_config(data, str(page)))
    else:
        default_parameters().updated(data, str(page))


def test_readme_command_lines_run(tmp_path):
    (code,) = blocks(ROOT / "README.md", "bash")[1:2]
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        args = shlex.split(line)
        assert args[0] == "fem-assb"
        r = subprocess.run([str(BIN / "fem-assb"), *args[1:]], cwd=tmp_path,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"{line}\n{r.stderr[-2000:]}"


def _command_lines(text: str) -> list[list[str]]:
    """The fem-assb command lines of a shell block: continuation lines joined, comments
    dropped, optional groups ``[--opt VALUE]`` taken as given, ``mpiexec -n N`` dropped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        args = shlex.split(re.sub(r"\[([^\]]*)\]", r"\1", line), comments=True)
        if args[:1] == ["mpiexec"]:
            args = args[3:]
        if args[:1] == ["fem-assb"]:
            out.append(args[1:])
    return out


SHELL_LINES = [(p, args) for p in PAGES for b in blocks(p, "bash")
               for args in _command_lines(b)]


@pytest.mark.parametrize("page, args", SHELL_LINES,
                         ids=[f"{p.relative_to(ROOT)}:{' '.join(a[:2])}"
                              for p, a in SHELL_LINES])
def test_every_documented_command_line_parses(page, args):
    """The long runs of the docs (study-size sweeps, clusters) are not run here, but
    each command line parses: its command and options exist, its values have the
    right types, the repository files it names exist."""
    import click

    from fem_assb.cli import main

    ctx = main.make_context("fem-assb", list(args), resilient_parsing=False)
    cmd, rest = main, ctx.protected_args + ctx.args
    while isinstance(cmd, click.Group):
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        assert cmd is not None, f"{page.name}: unknown command {name}"
        if isinstance(cmd, click.Group):
            sub = cmd.make_context(name, rest, parent=ctx)
            ctx, rest = sub, sub.protected_args + sub.args
    try:
        cmd.make_context(cmd.name, rest, parent=ctx)
    except click.BadParameter as err:  # an input an earlier line of the block writes
        assert "does not exist" in str(err), f"{page.name}: {' '.join(args)}: {err}"
    for a in args:
        if a.startswith(("meshes/", "benchmarks/", "fem_assb/")):
            assert (ROOT / a).exists(), f"{page.name}: {a} does not exist"
