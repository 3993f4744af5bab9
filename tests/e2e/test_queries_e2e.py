"""Issue 12, query files and ``econnector patient-status`` through the real daemon and
the reference vault (a patients file with a green, a blue and a red patient): query
files dropped as a vendor drops them are answered in the inbox with the status and its
meaning in three languages and archived; a bad query gets an error file and goes to
failed/; a FIFO under a query name is refused without hanging the daemon; while the
vault cannot be reached the query waits (a ``waiting`` answer) and is answered when it
is back; the command answers for the three patients, in German with ``--lang de``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector.messages.patient_status import STATUS_TEXTS
from econnector_testsupport.daemon import (
    make_identity,
    run_cli,
    running_daemon,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import free_port, running_vault

pytestmark = pytest.mark.e2e

GREEN, BLUE, RED = unique_matricule(51), unique_matricule(52), unique_matricule(53)
PATIENTS = {GREEN: "green", BLUE: "blue", RED: "red"}
PROVIDER = "70000095"


def query(mat: str, **extra: Any) -> dict[str, Any]:
    return {"schema": "econnector.query/v1", "query": "patient-status", "matricule": mat,
            **extra}


def drop_query(outbox: Path, name: str, body: dict[str, Any] | str) -> None:
    """As a vendor writes: a temp name, then a rename."""
    if isinstance(body, dict):
        text = json.dumps(body) if name.endswith(".json") else yaml.safe_dump(body)
    else:
        text = body
    tmp = outbox / f"{name}.part"
    tmp.write_text(text, "utf-8")
    os.replace(tmp, outbox / name)


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return doc


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_vault(tmp_path_factory.mktemp("vault"), patients=PATIENTS) as vp:
        yield vp


def test_queries_are_answered_refused_and_a_fifo_does_not_hang(
        tmp_path: Path, vault) -> None:  # type: ignore[no-untyped-def]
    ident = make_identity(tmp_path / "id", PROVIDER)
    root = tmp_path / "practice"
    cfg = write_config(root, [(PROVIDER, ident)], vault=vault)
    outbox, inbox = root / "outbox", root / "inbox"
    outbox.mkdir(parents=True, exist_ok=True)
    with running_daemon(cfg) as d:
        os.mkfifo(outbox / "x.query.yaml")
        drop_query(outbox, "q-green.query.yaml", query(GREEN, language="de"))
        drop_query(outbox, "q-blue.query.json", query(BLUE, language="en"))
        drop_query(outbox, "q-red.query.yml", query(RED))
        drop_query(outbox, "q-bad.query.yaml", query(RED[:12], query="patient-status"))
        want = ["q-green.answer.json", "q-blue.answer.json", "q-red.answer.json",
                "q-bad.error.json", "x.error.json"]
        wait_for(lambda: all((inbox / n).exists() for n in want), 30, "the answers",
                 on_fail=lambda: f"{sorted(os.listdir(inbox))}\n{d.log()[-3000:]}")
        # The FIFO did not hang the daemon: a query dropped after it is answered too.
        drop_query(outbox, "q-after.query.yaml", query(GREEN))
        wait_for(lambda: (inbox / "q-after.answer.json").exists(), 30, "a later answer")
        wait_for(lambda: not any(n.endswith((".yaml", ".yml", ".json"))
                                 for n in os.listdir(outbox)), 10, "the outbox emptied")
        assert d.alive()
        log = d.log()
    for stem, mat, status, lang in (("q-green", GREEN, "green", "de"),
                                    ("q-blue", BLUE, "blue", "en"),
                                    ("q-red", RED, "red", "fr")):
        a = read(inbox / f"{stem}.answer.json")
        assert a is not None
        assert a["schema"] == "econnector.answer/v1" and a["state"] == "answered"
        assert (a["query"], a["stem"], a["status"], a["language"]) == (
            "patient-status", stem, status, lang)
        assert a["matricule_masked"] == mat[:4] + "*" * 8 + mat[12]
        assert a["meaning"] == {k: STATUS_TEXTS[k][status] for k in ("fr", "de", "en")}
        assert a["checked_at"].endswith("Z") and a["answered_at"].endswith("Z")
        assert isinstance(a["from_cache"], bool)
        text = (inbox / f"{stem}.answer.txt").read_text("utf-8")
        assert STATUS_TEXTS[lang][status] in text and mat not in text
        assert mat not in log
    archived = sorted(p.name for p in (root / "archive").rglob("*.query.*"))
    assert archived == ["q-after.query.yaml", "q-blue.query.json", "q-green.query.yaml",
                        "q-red.query.yml"]
    err = read(inbox / "q-bad.error.json")
    assert err is not None and err["schema"] == "econnector.error/v1"
    assert (err["code"], err["field"], err["files"]) == (
        "matricule-format", "matricule", ["q-bad.query.yaml"])
    assert (inbox / "q-bad.error.txt").read_text("utf-8").strip()
    fifo = read(inbox / "x.error.json")
    assert fifo is not None and fifo["code"] == "file-not-regular"
    assert sorted(os.listdir(root / "failed")) == ["q-bad.query.yaml", "x.query.yaml"]


def test_a_query_waits_while_the_vault_is_away(tmp_path: Path) -> None:
    port = free_port()
    ident = make_identity(tmp_path / "id", PROVIDER)
    root = tmp_path / "practice"
    token = "test-token-0123456789"
    cfg = write_config(root, [(PROVIDER, ident)], vault_url=f"http://127.0.0.1:{port}",
                       token=token)
    outbox, inbox = root / "outbox", root / "inbox"
    outbox.mkdir(parents=True, exist_ok=True)
    answer = inbox / "w.answer.json"
    with running_daemon(cfg) as d:
        drop_query(outbox, "w.query.yaml", query(RED, language="en"))
        waiting = wait_for(lambda: read(answer), 30, "a waiting answer",
                           on_fail=lambda: d.log()[-3000:])
        assert waiting["state"] == "waiting" and waiting["reason"] == "vault-unavailable"
        assert "status" not in waiting and (outbox / "w.query.yaml").exists()
        assert "econnector asks the vault again" in (inbox / "w.answer.txt").read_text()
        with running_vault(tmp_path / "vault", patients=PATIENTS, port=port, token=token):
            done = wait_for(lambda: (a := read(answer)) and a["state"] == "answered" and a,
                            30, "the answer", on_fail=lambda: d.log()[-3000:])
        assert done["status"] == "red" and not (outbox / "w.query.yaml").exists()


def test_the_command_for_three_patients(tmp_path: Path, vault) -> None:  # type: ignore[no-untyped-def]
    ident = make_identity(tmp_path / "id", PROVIDER)
    root = tmp_path / "practice"
    cfg = str(write_config(root, [(PROVIDER, ident)], vault=vault))
    for mat, status in PATIENTS.items():
        r = run_cli("patient-status", mat, "-c", cfg, "--lang", "de")
        assert r.returncode == 0, r.stderr
        assert STATUS_TEXTS["de"][status] in r.stdout
        assert "Beim Tresor geprüft am" in r.stdout and mat not in r.stdout
        r = run_cli("patient-status", mat, "-c", cfg, "--json", "--fresh")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["status"] == status and doc["from_cache"] is False
        assert set(doc["meaning"]) == {"fr", "de", "en"} and mat not in r.stdout
    # A mistyped number: said in German, exit 2, the vault not asked.
    bad = RED[:12] + str((int(RED[12]) + 1) % 10)
    r = run_cli("patient-status", bad, "-c", cfg, "--lang", "de")
    assert r.returncode == 2 and "Prüfziffer" in r.stderr and bad not in r.stderr
    # A vault that cannot be reached: one line, exit 1.
    cfg_down = str(write_config(tmp_path / "down", [(PROVIDER, ident)],
                                vault_url=f"http://127.0.0.1:{free_port()}", token="t" * 20))
    r = run_cli("patient-status", GREEN, "-c", cfg_down, "--lang", "fr")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "coffre-fort" in r.stderr and GREEN not in r.stderr
