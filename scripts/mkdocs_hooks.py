"""MkDocs hook: the demos (``demos/*.py``, jupytext scripts) become pages of the site
(rendered by mkdocs-jupyter; executed at tiny size with ``make docs``)."""

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

DEMOS = Path(__file__).resolve().parents[1] / "demos"


@event_priority(100)  # before mkdocs-jupyter turns .py files into notebook pages
def on_files(files, config):
    for demo in sorted(DEMOS.glob("[0-9]*.py")):
        files.append(File(f"demos/{demo.name}", src_dir=str(DEMOS.parent),
                          dest_dir=config["site_dir"], use_directory_urls=True))
    return files
