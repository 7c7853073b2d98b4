"""Run `gridfed` in this process (fast: no interpreter start-up) and check refusals."""

from __future__ import annotations

import signal
from pathlib import Path

from typer.testing import CliRunner

from runner.cli import app

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def invoke(*args: str) -> tuple[int, str]:
    """(exit code, output with whitespace collapsed: rich wraps long lines). A traceback
    fails the test: the command must end with typer's exit, never an exception."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"gridfed {' '.join(args)} raised") from result.exception
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def refused(*args: str, out: Path) -> str:
    """Run `gridfed run ARGS --out OUT`; assert exit 2 and that nothing was created."""
    existed = out.exists()
    code, text = invoke("run", *args, "--out", str(out))
    assert code == 2, text
    assert text.startswith("error:"), text
    if not existed:
        assert not out.exists(), f"{out} was created"
    return text
