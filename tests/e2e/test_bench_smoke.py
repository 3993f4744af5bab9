"""The benchmark runs end to end at tiny sizes, so it does not rot. No timing asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from econnector_testsupport.daemon import require_tool
from econnector_testsupport.paths import BENCH
from econnector_testsupport.vault import subprocess_env

pytestmark = pytest.mark.e2e

LEVELS = ("B-B", "B-T", "B-LT")  # --quick leaves out B-LTA (a daemon start less)


def test_bench_quick_runs_every_scenario_and_peer(tmp_path: Path) -> None:
    for tool in ("inotifywait", "jq", "curl"):
        require_tool(tool)
    out = tmp_path / "bench.json"
    # The levels scenario has its own test below (it runs in parallel under xdist).
    r = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick",
                        "--only", "throughput,latency,backlog,big,peers",
                        "--json", str(out)], capture_output=True, text=True,
                       env=subprocess_env(), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    got = {(row["scenario"], row["system"]) for row in rows}
    assert got == {
        ("throughput", "econnector"), ("latency", "econnector"), ("backlog", "econnector"),
        ("idle", "econnector"), ("big file", "econnector"), ("throughput", "floor"),
        ("throughput", "naive-loop"), ("throughput", "shell-pipeline"),
    }
    for row in rows:
        assert row["value"] > 0 or row["scenario"] == "idle"
        if row["system"] in ("naive-loop", "shell-pipeline"):
            assert row["extra"]["failed"] == 0 and row["extra"]["ok"] == row["docs"]
    assert "| throughput | econnector |" in r.stdout


def test_bench_quick_levels_measures_each_level_the_tsa_and_pyhanko(tmp_path: Path) -> None:
    """``run.py --only levels``: the PKI as its own process, a daemon per level (each
    receipt must state its level, or the run fails), the TSA alone, the pyHanko peer,
    latency at B-LT, and a verdict on each target."""
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--only", "levels",
                        "--json", str(out)], capture_output=True, text=True,
                       env=subprocess_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {(row["scenario"], row["system"]): row for row in result["rows"]}
    assert set(rows) == {
        *((f"{level} throughput", "econnector") for level in LEVELS),
        ("B-B latency at 1/s", "econnector"), ("B-LT latency at 1/s", "econnector"),
        ("TSA alone", "certomancer TSA"),
        ("B-LT throughput", "pyHanko alone (reused)"),
        ("B-LT throughput", "pyHanko alone (fresh)"),
    }
    for row in rows.values():
        assert row["value"] > 0 and row["cpu_per_doc"] > 0, row
    for level in LEVELS:
        extra = rows[(f"{level} throughput", "econnector")]["extra"]
        assert extra["workers_ms"] > 0 and extra["main_ms"] > 0, extra
        if level != "B-B":  # the PKI's CPU, measured apart: a timestamp per document
            assert extra["pki_ms"] > 0, extra
    for mode in ("reused", "fresh"):
        peer = rows[("B-LT throughput", f"pyHanko alone ({mode})")]["extra"]
        assert peer["failed"] == 0 and peer["ms_per_signature"] > 0
    assert rows[("TSA alone", "certomancer TSA")]["extra"]["pki_ms_per_token"] > 0
    assert [t["name"].split(" ")[0] for t in result["targets"]] == ["B-LT", "econnector",
                                                                     "receipt"]
    assert "| B-LT throughput | econnector |" in r.stdout
    assert "| target | measured | needed | result |" in r.stdout


def test_bench_invoice_qr_prints_the_codes_cost() -> None:
    """``bench/invoice_qr.py``: both kinds signed, and the difference printed."""
    r = subprocess.run([sys.executable, str(BENCH / "invoice_qr.py"), "--count", "3"],
                       capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "| invoice with QR code | 3 |" in r.stdout, r.stdout
    assert "the QR code costs" in r.stdout, r.stdout
