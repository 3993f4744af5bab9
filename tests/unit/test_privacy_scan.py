"""The session's privacy check (econnector_testsupport.privacy and the root conftest):
it catches a matricule, a name and a stem planted in a daemon log, so it cannot pass
silently, and it reads only the recorded logs."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from econnector import matricule
from econnector_testsupport import privacy
from econnector_testsupport.daemon import drop, sidecar, unique_matricule

RECORDED = unique_matricule(7)
UNRECORDED = matricule.make("19610203", "417")  # valid, never recorded: still a hit
STEM = "Weber_Anne_2026-11"


def plant(folder: Path, text: str, name: str = "econnector.log") -> Path:
    log = folder / "root" / name
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text, "utf-8")
    return log


@pytest.fixture
def session(tmp_path: Path) -> Path:
    folder = tmp_path / "session"
    folder.mkdir()
    privacy.record_sidecar({"patient": {"matricule": RECORDED, "last_name": "Weber",
                                        "first_name": "Anne"}}, STEM, folder)
    privacy.record_sidecar("patient: {matricule: '1234567890123', last_name: Kremer}\n",
                           "red", folder)
    return folder


CLEAN = "\n".join([
    '{"event": "claimed", "stem": "3f2a9c1b0d4e", "matricule": "1893********2"}',
    '{"event": "patient-status", "status": "red", "submitted_by": "anna"}',  # "red": a word
    '{"event": "starting", "outbox": "/tmp/test_red0/outbox", "identity": "Dr 90812100"}',
    '{"event": "held", "ts": 17330000001234}',  # 14 digits: not a matricule
    "econnector: watching /tmp/x/outbox",
]) + "\n"


def test_clean_logs_pass(session: Path) -> None:
    privacy.record_log(plant(session, CLEAN), session)
    hits, files = privacy.scan(session)
    assert (hits, files) == ([], 1)


def test_planted_values_are_caught_and_reported_masked(session: Path) -> None:
    leaky = CLEAN + "\n".join([
        f'{{"event": "rejected", "detail": "bad {RECORDED}"}}',
        f"Traceback: open('/srv/outbox/{STEM}.pdf')",
        '{"event": "x", "text": "patient Weber-Muller"}',
        f"stderr: {UNRECORDED}",
        '{"event": "rejected", "file": "red.yaml"}',
        '{"event": "bad-length", "value": "1234567890123"}',
        f'{{"event": "claimed", "stem": "{STEM}"}}',
    ]) + "\n"
    log = plant(session, leaky)
    privacy.record_log(log, session)
    hits, _ = privacy.scan(session)
    found = {(h.line, h.kind) for h in hits}
    n = len(CLEAN.splitlines())
    assert found == {(n + 1, "matricule"), (n + 2, "stem"), (n + 3, "name"),
                     (n + 4, "matricule"), (n + 5, "stem"), (n + 6, "matricule"),
                     (n + 7, "stem")}
    report = "\n".join(privacy.report(hits))
    for raw in (RECORDED, UNRECORDED, "Weber", STEM, "1234567890123"):
        assert raw not in report
    assert f"{log}:{n + 1}: matricule {matricule.mask(RECORDED)}" in report


def test_rotated_files_are_read_and_other_files_are_not(session: Path) -> None:
    log = plant(session, CLEAN)
    privacy.record_log(log, session)
    plant(session, f"rotated {RECORDED}\n", "econnector.log.1")
    plant(session, f"{STEM}.pdf Weber {RECORDED}\n", "outbox.yaml")  # not a log: not read
    plant(session, f"{RECORDED}\n", "econnector.log.bak")  # not a rotation
    hits, files = privacy.scan(session)
    assert files == 2
    assert [(h.file.name, h.kind) for h in hits] == [("econnector.log.1", "matricule")]


def test_helpers_record_what_tests_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    monkeypatch.setenv(privacy.ENV, str(folder))
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    mat = unique_matricule(11)
    drop(outbox, "inv-Kieffer", b"%PDF-1.7\n", sidecar(mat=mat), fmt="json")
    values = privacy.recorded_values(folder)
    assert mat in values["matricule"] and {"Weber", "Anne"} <= values["name"]
    assert "inv-Kieffer" in values["stem"]
    # What was dropped is in the outbox, not in a recorded log: no hit.
    assert privacy.scan(folder) == ([], 0)


def test_the_session_check_is_on_and_fails_the_run_on_a_hit(
        session: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    assert os.environ.get(privacy.ENV), "the root conftest sets the session folder"
    conftest = next(p for p in request.config.pluginmanager.get_plugins()
                    if Path(getattr(p, "__file__", "")).resolve()
                    == Path(str(request.config.rootpath), "conftest.py").resolve())
    privacy.record_log(plant(session, f"leak {RECORDED}\n"), session)
    config: Any = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda _: None))
    config._econnector_privacy_dir = str(session)  # as pytest_configure sets it
    fake: Any = SimpleNamespace(config=config, exitstatus=pytest.ExitCode.OK)
    conftest.pytest_sessionfinish(fake, 0)
    assert fake.exitstatus == pytest.ExitCode.TESTS_FAILED
    out = capsys.readouterr().out
    assert "privacy check: 1 patient value(s)" in out and RECORDED not in out
    assert session.is_dir()  # kept for a look
