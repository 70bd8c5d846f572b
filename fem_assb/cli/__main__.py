"""``python -m fem_assb.cli`` (the ``fem-assb`` command)."""

from fem_assb.cli import main

main()
