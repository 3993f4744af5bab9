"""Query files (docs/folder-contract.md, "Query files"): which names are queries, what a
query must say and the code of each defect, the answer and waiting documents in fr, de
and en, and the query desk in process (a vault behind httpx.MockTransport, the real
state store, real files): answered and archived, refused into failed/, a FIFO refused
without a hang, waiting while the vault is down and then answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from econnector import config, contract, matricule, safeopen
from econnector.contract import Kind, classify
from econnector.errors import SidecarError, render
from econnector.messages.patient_status import COMMAND_TEXTS, QUERY_TEXTS, STATUS_TEXTS
from econnector.patients import PatientStatuses, Status
from econnector.queries import (
    ANSWER_SCHEMA,
    Query,
    QueryDesk,
    answer_doc,
    answer_text,
    error_params,
    parse_query,
    waiting_doc,
)
from econnector.statestore import Store
from econnector.vault_client import VaultClient
from econnector_testsupport.configs import MINIMAL

TODAY = dt.date(2026, 11, 30)
GOOD = "1893120105732"
YAML = f'schema: econnector.query/v1\nquery: patient-status\nmatricule: "{GOOD}"\n'


def parse(text: str | bytes, fmt: contract.Format = "yaml") -> Query:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_query(data, fmt, today=TODAY, max_bytes=1024)


def refusal(text: str | bytes, fmt: contract.Format = "yaml") -> SidecarError:
    with pytest.raises(SidecarError) as exc:
        parse(text, fmt)
    return exc.value


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "stem", "fmt"), [
    ("a.query.yaml", "a", "yaml"),
    ("a.query.yml", "a", "yaml"),
    ("q-2026-1.query.json", "q-2026-1", "json"),
    ("A.QUERY.JSON", "A", "json"),
    ("x.Query.Yaml", "x", "yaml"),
])
def test_query_names(name: str, stem: str, fmt: str) -> None:
    c = classify(name)
    assert (c.kind, c.stem, c.fmt, c.stem_ok) == (Kind.QUERY, stem, fmt, True)


@pytest.mark.parametrize(("name", "kind"), [
    ("x.query.pdf", Kind.PDF),  # a document whose stem ends in .query
    ("x.query", Kind.IGNORED),
    (".query.yaml", Kind.IGNORED),  # hidden
    ("x.query.yaml.part", Kind.IGNORED),  # a vendor's temp name
    ("x.query.yaml.tmp", Kind.IGNORED),
    ("x.yaml", Kind.SIDECAR),
])
def test_not_queries(name: str, kind: Kind) -> None:
    assert classify(name).kind is kind


# -- parsing ---------------------------------------------------------------------------------


def test_good_yaml_and_json() -> None:
    assert parse(YAML) == Query("patient-status", GOOD, None)
    doc = {"schema": "econnector.query/v1", "query": "patient-status", "matricule": GOOD,
           "language": "de", "x-vendor": {"ticket": 7}}
    assert parse(json.dumps(doc), "json") == Query("patient-status", GOOD, "de")
    assert parse(b"\xef\xbb\xbf" + (YAML + "language: en\n").encode()).language == "en"


@pytest.mark.parametrize(("text", "code", "field"), [
    ('query: patient-status\nmatricule: "1893120105732"\n', "field-missing", "schema"),
    ('schema: econnector.query/v1\nmatricule: "1893120105732"\n', "field-missing", "query"),
    ("schema: econnector.query/v1\nquery: patient-status\n", "field-missing", "matricule"),
    (YAML + "patient: x\n", "field-unknown", "patient"),
    ("schema: econnector.query/v1\nquery: patient-status\nmatricule: 1893120105732\n",
     "field-type", "matricule"),
    (YAML.replace("query: patient-status", "query: [patient-status]"), "field-type", "query"),
    (YAML + "language: no\n", "field-type", "language"),  # YAML 1.1 reads a boolean
    (YAML + "language: lb\n", "language-unsupported", "language"),
    (YAML.replace("patient-status", "appointments"), "query-unsupported", "query"),
    (YAML.replace("econnector.query/v1", "econnector.query/v2"), "query-unsupported", "schema"),
    (YAML.replace(GOOD, "189312010573"), "matricule-format", "matricule"),
    (YAML.replace(GOOD, matricule.make("20991301", "123")), "matricule-date", "matricule"),
    (YAML.replace(GOOD, GOOD[:11] + str((int(GOOD[11]) + 1) % 10) + GOOD[12]),
     "matricule-luhn", "matricule"),
    (YAML.replace(GOOD, GOOD[:12] + str((int(GOOD[12]) + 1) % 10)),
     "matricule-verhoeff", "matricule"),
    ("schema: [", "query-syntax", None),
    ("- a\n- b\n", "query-syntax", None),
    ("", "query-syntax", None),
])
def test_each_defect_has_its_code(text: str, code: str, field: str | None) -> None:
    e = refusal(text)
    assert (e.code, e.field) == (code, field)


def test_json_syntax_and_encoding_and_size() -> None:
    e = refusal('{"schema": "econnector.query/v1",', "json")
    assert e.code == "query-syntax" and e.params["format"] == "JSON"
    assert "line 1" in e.params["detail"]
    e = refusal(b"schema: \xff\xfe")
    assert e.code == "query-syntax" and e.params["detail_key"] == "encoding"
    e = refusal(YAML + "x-pad: " + "a" * 2000 + "\n")
    assert e.code == "sidecar-too-large" and e.params["limit"] == 1024


def test_all_defects_are_listed_and_the_language_is_kept() -> None:
    e = refusal("schema: econnector.query/v1\nquery: other\nmatricule: 1\nlanguage: de\n"
                "foo: 1\n")
    assert [x.code for x in e.errors] == [  # type: ignore[attr-defined]
        "field-unknown", "query-unsupported", "field-type"]
    assert e.language == "de"


@pytest.mark.parametrize("lang", ["fr", "de", "en"])
def test_syntax_details_of_our_own_are_in_the_staff_language(lang: str) -> None:
    e = refusal("- a\n")
    message, _ = render(e.code, error_params(e, lang), lang)
    assert QUERY_TEXTS[lang]["not-mapping"] in message


# -- the documents ---------------------------------------------------------------------------


def test_answer_document_and_text() -> None:
    q = Query("patient-status", GOOD, "de")
    doc = answer_doc("q1", q, Status("blue", 1764500000.0, cached=True), 1764500100.0, "de")
    assert doc["schema"] == ANSWER_SCHEMA and doc["state"] == "answered"
    assert doc["matricule_masked"] == "1893********2" and GOOD not in json.dumps(doc)
    assert doc["status"] == "blue" and set(doc["meaning"]) == {"fr", "de", "en"}
    assert doc["meaning"]["fr"].startswith("bleu") and doc["from_cache"] is True
    assert doc["checked_at"] == "2025-11-30T10:53:20Z"
    text = answer_text(doc)
    assert STATUS_TEXTS["de"]["title"] in text and "blau" in text and GOOD not in text
    assert "30.11.2025" in text and QUERY_TEXTS["de"]["from-cache"] in text


def test_waiting_document_and_text() -> None:
    from econnector.errors import VaultUnavailable

    q = Query("patient-status", GOOD, None)
    e = VaultUnavailable("vault-unavailable", detail="connection refused")
    doc = waiting_doc("q2", q, e, 1764500000.0, 1764500002.0, "fr")
    assert doc["state"] == "waiting" and doc["reason"] == "vault-unavailable"
    assert "status" not in doc and doc["next_try_at"] == "2025-11-30T10:53:22Z"
    text = answer_text(doc)
    assert QUERY_TEXTS["fr"]["waiting"] in text and doc["message"] in text


def test_texts_have_the_same_keys_in_three_languages() -> None:
    for table in (STATUS_TEXTS, QUERY_TEXTS, COMMAND_TEXTS):
        assert set(table) == {"fr", "de", "en"}
        assert set(table["fr"]) == set(table["de"]) == set(table["en"])
        assert all(table["fr"][k] != table["en"][k] or k == "source" for k in table["en"])


# -- the desk, in process --------------------------------------------------------------------


class Vault:
    """digital-status answers; ``down`` makes every request fail as a refused connection."""

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses, self.down, self.asked = statuses, False, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        number = request.url.path.split("/")[3]
        return httpx.Response(200, json={"status": self.statuses.get(number, "green")})


@pytest.fixture
def desk(tmp_path: Path):  # type: ignore[no-untyped-def]
    doc = {**MINIMAL, "watch": {"settle_ms": 50}, "retry": {"base_s": 0.05, "cap_s": 0.2}}
    cfg = config.parse(doc, tmp_path)
    for p in (cfg.folders.outbox, cfg.folders.inbox, cfg.folders.work):
        p.mkdir(parents=True)
    store = Store(cfg.folders.work / "state.sqlite")
    vault = Vault({GOOD: "red"})
    client = VaultClient("http://vault.test", "tok", transport=httpx.MockTransport(vault.handle))
    patients = PatientStatuses(store, lambda: client, 3600.0, time.time)
    d = QueryDesk(cfg, patients, clock=time.time, mono=time.monotonic)
    d.vault = vault  # type: ignore[attr-defined]
    yield d
    store.close()


def listing(d: QueryDesk) -> list[safeopen.Entry]:
    _, entries = safeopen.list_dir(d.outbox, lambda n: (c := classify(n)).kind is Kind.QUERY
                                   and c)
    return entries


async def serve(d: QueryDesk, until: Any, timeout: float = 10.0) -> None:
    """Scans as the pipeline makes them, until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        await d.handle(listing(d), time.monotonic())
        await asyncio.sleep(0.02)


def drop(d: QueryDesk, name: str, text: str) -> None:
    tmp = d.outbox / f".{name}.part"
    tmp.write_text(text)
    os.replace(tmp, d.outbox / name)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_desk_answers_refuses_and_survives_a_fifo(desk: QueryDesk) -> None:
    asyncio.run(_test_desk_answers_refuses_and_survives_a_fifo(desk))


async def _test_desk_answers_refuses_and_survives_a_fifo(d: QueryDesk) -> None:
    drop(d, "q1.query.yaml", YAML + "language: de\n")
    drop(d, "q2.query.json", json.dumps({"schema": "econnector.query/v1",
                                         "query": "patient-status", "matricule": GOOD}))
    drop(d, "bad.query.yaml", YAML.replace(GOOD, GOOD[:12] + "0" if GOOD[12] != "0" else "1"))
    os.mkfifo(d.outbox / "pipe.query.yaml")
    inbox = d.inbox
    await serve(d, lambda: all((inbox / f).exists() for f in (
        "q1.answer.json", "q2.answer.txt", "bad.error.json", "pipe.error.json")) and not d.tasks)
    a = read(inbox / "q1.answer.json")
    assert (a["status"], a["language"], a["from_cache"]) == ("red", "de", False)
    assert "rot" in (inbox / "q1.answer.txt").read_text()
    assert read(inbox / "q2.answer.json")["language"] == d.cfg.default_language
    err = read(inbox / "bad.error.json")
    assert err["code"] == "matricule-verhoeff" and err["field"] == "matricule"
    assert err["files"] == ["bad.query.yaml"]
    assert read(inbox / "pipe.error.json")["code"] == "file-not-regular"
    assert sorted(os.listdir(d.failed)) == ["bad.query.yaml", "pipe.query.yaml"]
    archived = sorted(p.name for p in d.archive.rglob("*.query.*"))
    assert archived == ["q1.query.yaml", "q2.query.json"]
    assert os.listdir(d.outbox) == []
    assert d.vault.asked == 1  # type: ignore[attr-defined]  # one question for the patient


def test_desk_waits_for_the_vault_then_answers(desk: QueryDesk) -> None:
    asyncio.run(_test_desk_waits_for_the_vault_then_answers(desk))


async def _test_desk_waits_for_the_vault_then_answers(d: QueryDesk) -> None:
    d.vault.down = True  # type: ignore[attr-defined]
    drop(d, "w.query.yaml", YAML)
    answer = d.inbox / "w.answer.json"
    await serve(d, lambda: answer.exists())
    waiting = read(answer)
    assert waiting["state"] == "waiting" and waiting["reason"] == "vault-unavailable"
    assert (d.outbox / "w.query.yaml").exists()
    d.vault.down = False  # type: ignore[attr-defined]
    await serve(d, lambda: read(answer)["state"] == "answered" and not d.tasks)
    assert read(answer)["status"] == "red"
    assert not (d.outbox / "w.query.yaml").exists()


def test_a_query_withdrawn_while_waiting_takes_its_waiting_answer(desk: QueryDesk) -> None:
    asyncio.run(_test_a_query_withdrawn_while_waiting_takes_its_waiting_answer(desk))


async def _test_a_query_withdrawn_while_waiting_takes_its_waiting_answer(d: QueryDesk) -> None:
    d.vault.down = True  # type: ignore[attr-defined]
    drop(d, "gone.query.yaml", YAML)
    await serve(d, lambda: (d.inbox / "gone.answer.json").exists())
    (d.outbox / "gone.query.yaml").unlink()
    await serve(d, lambda: not d.tasks)
    assert not (d.inbox / "gone.answer.json").exists()
    assert not (d.inbox / "gone.answer.txt").exists()


def test_a_later_error_replaces_an_earlier_answer_of_the_stem(desk: QueryDesk) -> None:
    asyncio.run(_test_a_later_error_replaces_an_earlier_answer_of_the_stem(desk))


async def _test_a_later_error_replaces_an_earlier_answer_of_the_stem(d: QueryDesk) -> None:
    drop(d, "s.query.yaml", YAML)
    await serve(d, lambda: (d.inbox / "s.answer.json").exists() and not d.tasks)
    drop(d, "s.query.yaml", "schema: econnector.query/v1\nquery: patient-status\n")
    await serve(d, lambda: (d.inbox / "s.error.json").exists() and not d.tasks)
    assert not (d.inbox / "s.answer.json").exists()
    assert read(d.inbox / "s.error.json")["code"] == "field-missing"
