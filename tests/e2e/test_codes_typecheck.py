"""A misspelt error code is a type error before it is a run-time one (issue 10): mypy,
run as a tool on a snippet, refuses it (``codes.Code`` itself: tests/unit/test_codes.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_mypy_refuses_a_misspelt_code(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent("""\
        from econnector.errors import PdfError, render
        from econnector.messages import template

        PdfError("pdf-damaged", detail="fine")
        PdfError("pdf-damagd", detail="misspelt")
        render("no-such-code", {})
        template("vault-tsl", "fr")
    """))
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "/dev/null", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(snippet)],
        capture_output=True, text=True, timeout=300)
    flagged = sorted(int(line.split(":")[1]) for line in r.stdout.splitlines()
                     if "error:" in line)
    assert flagged == [5, 6, 7], r.stdout + r.stderr
