"""`python -m runner ...` is the gridfed command line."""

from runner.cli import app

app(prog_name="gridfed")
