"""`python -m tandem`: the `tandem` command, for places where the console script may not
be on PATH (lab nodes entered with nsenter, benchmarks run with the venv's python)."""

from tandem.cli.main import run

run()
