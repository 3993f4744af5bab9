"""The heartbeat file (inbox/_econnector.json, issue 13): the pure document (green and red
lights, stale_after, the texts in three languages, no patient data), the oldest waiting
document from a real store, that nothing of the daemon takes the file for one of its
own, and the writer over a real pipeline and inbox writer (a write still pending is
skipped, the last word says stopped). The real daemon is in
tests/e2e/test_heartbeat_e2e.py."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import string
import threading
from pathlib import Path
from typing import Any

import pytest

from econnector import contract, heartbeat, names
from econnector.config import Config
from econnector.messages import LANGUAGES
from econnector.messages.heartbeat import HEARTBEAT_TEXTS
from econnector.pipeline import Pipeline
from econnector.recovery import clean_temp, rebuild_from_inbox
from econnector.states import Event, State
from econnector.statestore import Store
from econnector_testsupport.daemon import PROVIDER, inprocess_config, make_identity
from econnector_testsupport.english import english_words
from econnector_testsupport.fakes import MockVault, ScriptedPool

NOW = dt.datetime(2026, 11, 25, 9, 16, 3, tzinfo=dt.UTC).timestamp()
MATRICULE = "1893120105732"
STEM = f"{MATRICULE}-weber-anne"


def _ident(state: str = "unlocked", reason: str | None = None, must_act: str | None = None,
           days: float | None = 400.0) -> dict[str, Any]:
    """One entry of Identities.report (the health file's map)."""
    not_after = None if days is None else (
        dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(days=days)).isoformat()
    return {"state": state, "reason": reason, "detail": "" if reason is None else "detail",
            "not_before": None, "not_after": not_after, "unlock": "file",
            "must_act": must_act, "command": None}


def _doc(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "version": "0.1.0", "node": "reception", "pid": 4242,
        "started_at": "2026-11-25T08:00:00Z", "now": NOW, "interval": 5.0,
        "counts": {"delivered": 12, "held": 1}, "oldest": None, "last_full_scan_at": NOW - 2,
        "watcher_healthy": True, "vault_state": "open",
        "identities": {PROVIDER: _ident()}, "storage_paused": False,
        "outbox_missing": False, "inbox_missing": False}
    args.update(over)
    return heartbeat.build(**args)


def _t(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_working_daemon_is_a_green_light_with_every_field() -> None:
    doc = _doc(oldest=heartbeat.Oldest("waiting-retry", NOW - 95.6))
    assert doc["schema"] == "econnector.heartbeat/v1" and doc["ok"] is True
    assert doc["reasons"] == [] and doc["stopped"] is False
    assert doc["message"] == {"fr": "econnector fonctionne.", "de": "econnector läuft.",
                              "en": "econnector is running."}
    assert doc["updated_at"] == "2026-11-25T09:16:03Z"
    assert doc["started_at"] == "2026-11-25T08:00:00Z"
    assert doc["last_full_scan_at"] == "2026-11-25T09:16:01Z"
    assert doc["counts"]["delivered"] == 12 and doc["counts"]["held"] == 1
    assert set(doc["counts"]) == {s.value for s in State}  # every state, zeros included
    assert doc["counts"]["received"] == 0
    assert doc["oldest_waiting"] == {"state": "waiting-retry", "since": "2026-11-25T09:14:27Z",
                                     "age_s": 95}
    assert doc["vault"] == {"reachable": True, "state": "open"}
    assert doc["identities"] == {PROVIDER: {"state": "unlocked", "reason": None,
                                            "must_act": None, "certificate_days_left": 400}}
    assert doc["watcher_healthy"] is True and doc["interval_s"] == 5
    assert set(doc["stale_message"]) == set(LANGUAGES)
    json.dumps(doc)  # plain JSON


@pytest.mark.parametrize("interval", [1.0, 5.0, 300.0, 2.5])
def test_stale_after_is_three_intervals_after_the_update(interval: float) -> None:
    doc = _doc(now=NOW + 0.7, interval=interval)  # whole seconds, as every file writes them
    assert doc["updated_at"] == "2026-11-25T09:16:03Z"
    gap = (_t(doc["stale_after"]) - _t(doc["updated_at"])).total_seconds()
    assert gap == int(3 * interval)
    assert doc["interval_s"] == interval


@pytest.mark.parametrize(
    ("over", "reasons", "words"),
    [
        ({"vault_state": "outage"}, ["vault-unavailable"], "vault cannot be reached"),
        ({"vault_state": "unauthorized"}, ["vault-unauthorized"], "refuses"),
        ({"vault_state": "tls"}, ["vault-tls"], "identity could not be verified"),
        ({"watcher_healthy": False}, ["watcher-down"], "folder watch is down"),
        ({"storage_paused": True}, ["storage-paused"], "cannot write its files"),
        ({"outbox_missing": True}, ["outbox-missing"], "outbox folder"),
        ({"inbox_missing": True}, ["inbox-missing"], "inbox folder"),
        ({"identities": {PROVIDER: _ident("locked", "identity-locked", "doctor")}},
         ["identity-locked"], f"waits for the doctor ({PROVIDER})"),
        ({"identities": {PROVIDER: _ident("locked", "token-absent", "doctor")}},
         ["token-absent"], "connect the signing card"),
        ({"identities": {PROVIDER: _ident("locked", "certificate-expired", "it", -3)}},
         ["certificate-expired"], f"signing key of {PROVIDER} cannot sign"),
    ],
)
def test_each_problem_is_a_red_light_with_its_reason(over: dict[str, Any], reasons: list[str],
                                                     words: str) -> None:
    doc = _doc(**over)
    assert doc["ok"] is False and doc["reasons"] == reasons
    assert words in doc["message"]["en"], doc["message"]["en"]
    assert doc["message"]["fr"] != doc["message"]["en"] != doc["message"]["de"]


def test_several_problems_are_all_said_most_serious_first() -> None:
    idents = {"90000001": _ident("locked", "identity-locked", "doctor"),
              "90000002": _ident("locked", "token-absent", "doctor"),
              "90000003": _ident("locked", "certificate-revoked", "it"),
              "90000004": _ident()}
    doc = _doc(identities=idents, vault_state="outage", watcher_healthy=False,
               storage_paused=True)
    assert doc["reasons"] == ["storage-paused", "vault-unavailable", "identity-locked",
                              "token-absent", "certificate-revoked", "watcher-down"]
    en = doc["message"]["en"]
    assert en.index("cannot write") < en.index("vault") < en.index("doctor (90000001, "
                                                                   "90000002)")
    assert "signing key of 90000003 cannot sign" in en and "90000004" not in en
    assert doc["identities"]["90000003"]["state"] == "locked"
    assert doc["identities"]["90000003"]["must_act"] == "it"


def test_stopped_is_red_and_says_only_that() -> None:
    doc = _doc(stopped=True, vault_state="outage",
               identities={PROVIDER: _ident("locked", "identity-locked", "doctor")})
    assert doc["stopped"] is True and doc["ok"] is False and doc["reasons"] == ["stopped"]
    assert doc["message"]["en"].startswith("econnector is stopped")
    assert doc["message"]["fr"].startswith("econnector est arrêté")
    assert doc["message"]["de"].startswith("econnector ist angehalten")


@pytest.mark.parametrize(("days", "left"), [(400.0, 400), (10.5, 10), (0.2, 0), (-0.5, -1),
                                            (None, None)])
def test_certificate_days_left_are_whole_days(days: float | None, left: int | None) -> None:
    doc = _doc(identities={PROVIDER: _ident(days=days)})
    assert doc["identities"][PROVIDER]["certificate_days_left"] == left


def test_no_stem_matricule_or_name_from_a_real_store_reaches_the_document(tmp_path: Path
                                                                           ) -> None:
    store = Store(tmp_path / "state.sqlite")
    old = store.create(STEM, f"{STEM}.pdf", f"{STEM}.yaml", None, NOW - 600)
    store.transition(old.id, Event.HOLD, NOW - 500, reason="identity-locked",
                     message=f"Weber Anne {MATRICULE}")
    done = store.create("2026-000123", "2026-000123.pdf", "2026-000123.yaml", None, NOW - 900)
    store.transition(done.id, Event.SIGNED, NOW - 899, signed_sha256="ab" * 32)
    store.transition(done.id, Event.UPLOAD, NOW - 898)
    store.transition(done.id, Event.CONFIRMED, NOW - 897)
    store.create("later", "later.pdf", "later.yaml", None, NOW - 60)
    oldest = heartbeat.oldest_waiting(store)
    assert oldest == heartbeat.Oldest("held", NOW - 600)  # not the delivered one, older
    doc = _doc(counts=store.counts(), oldest=oldest)
    text = json.dumps(doc, ensure_ascii=False)
    for secret in (STEM, MATRICULE, "Weber", "Anne", "2026-000123", "later"):
        assert secret not in text, secret
    assert doc["oldest_waiting"]["age_s"] == 600
    assert doc["counts"]["held"] == 1 and doc["counts"]["delivered"] == 1
    assert doc["counts"]["received"] == 1
    store.close()


def test_nothing_waiting_is_null(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    assert heartbeat.oldest_waiting(store) is None
    assert _doc(oldest=None)["oldest_waiting"] is None
    store.close()


def test_the_file_name_and_one_per_node_on_a_shared_inbox() -> None:
    assert heartbeat.file_name("reception", False) == "_econnector.json"
    assert heartbeat.file_name("reception", True) == "_econnector.reception.json"


@pytest.mark.parametrize("node", ["reception", "receipt", "status", "error", "signed"])
def test_no_stem_of_the_practice_can_name_the_heartbeat(node: str) -> None:
    """Every file of a document in the inbox starts with its stem (or bad-name-<hash>);
    stems start with a letter or a digit, the heartbeat with '_'."""
    for name in (heartbeat.file_name(node, False), heartbeat.file_name(node, True)):
        stem = name.split(".")[0]
        assert not names.stem_ok(stem)
        assert not re.fullmatch(contract.STEM_RE, stem)
        assert not names.out_stem(stem).startswith("_")  # answered as bad-name-<hash>


def test_recovery_and_cleaning_leave_the_heartbeat_alone(tmp_path: Path) -> None:
    """A shared inbox with node id "receipt": _econnector.receipt.json matches the receipts'
    pattern, yet a lost database is not rebuilt from it, and the start's cleaning keeps it."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in (heartbeat.file_name("receipt", True), heartbeat.file_name("x", False)):
        (inbox / name).write_text(json.dumps(_doc()))
    store = Store(tmp_path / "state.sqlite")
    assert rebuild_from_inbox(store, inbox, lambda: NOW) == 0
    assert store.counts() == {}
    clean_temp(inbox)
    assert sorted(p.name for p in inbox.iterdir()) == ["_econnector.json",
                                                       "_econnector.receipt.json"]
    store.close()


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_the_texts_exist_in_every_language_with_the_same_fields() -> None:
    assert set(HEARTBEAT_TEXTS) == set(LANGUAGES)
    for lang in LANGUAGES:
        assert set(HEARTBEAT_TEXTS[lang]) == set(HEARTBEAT_TEXTS["en"]), lang
        for key, text in HEARTBEAT_TEXTS[lang].items():
            assert _fields(text) == _fields(HEARTBEAT_TEXTS["en"][key]), (lang, key)
    leftovers = {t: english_words(t) for lang in ("fr", "de")
                 for t in HEARTBEAT_TEXTS[lang].values() if english_words(t)}
    assert not leftovers


def test_every_reason_has_a_text_or_is_an_identitys() -> None:
    texts = HEARTBEAT_TEXTS["en"]
    for over in ({"vault_state": "outage"}, {"vault_state": "unauthorized"},
                 {"vault_state": "tls"}, {"watcher_healthy": False}, {"storage_paused": True},
                 {"outbox_missing": True}, {"inbox_missing": True}, {"stopped": True}):
        assert all(r in texts for r in _doc(**over)["reasons"]), over


# -- the writer, over a real pipeline and its inbox writer ------------------------------


def _pipeline(tmp_path: Path) -> tuple[Config, Pipeline]:
    cfg = inprocess_config(tmp_path, make_identity(tmp_path / "id"), 0.1, 0.3)
    cfg.folders.inbox.mkdir(parents=True)
    store = Store(cfg.folders.work / "state.sqlite")
    pipe = Pipeline(cfg, store, MockVault().client(), ScriptedPool())  # type: ignore[arg-type]
    return cfg, pipe


def test_a_write_still_pending_is_skipped_and_the_last_word_says_stopped(tmp_path: Path
                                                                         ) -> None:
    cfg, pipe = _pipeline(tmp_path)
    now = [NOW]
    hb = heartbeat.Heartbeat(cfg, pipe, lambda: True, "9.9.9", clock=lambda: now[0])
    path = cfg.folders.inbox / "_econnector.json"
    assert hb.path == path
    disk = threading.Event()

    def stuck() -> None:
        disk.wait(10)

    async def scenario() -> None:
        pipe.inbox.submit(path.name, stuck)  # the heartbeat's I/O thread waits for the disk
        hb.beat()
        now[0] = NOW + 5
        hb.beat()  # the first is not on disk yet: skipped, not queued behind it
        await asyncio.sleep(0.05)
        assert not path.exists()
        disk.set()
        assert hb._pending is not None
        await hb._pending
        first = json.loads(path.read_text("utf-8"))
        assert first["updated_at"] == "2026-11-25T09:16:03Z" and first["version"] == "9.9.9"
        assert first["ok"] is False and first["reasons"] == ["identity-locked"]  # no prepare
        now[0] = NOW + 10
        hb.beat()
        await hb._pending
        assert json.loads(path.read_text("utf-8"))["updated_at"] == "2026-11-25T09:16:13Z"
        now[0] = NOW + 15
        hb.stopped()

    asyncio.run(scenario())
    pipe.close_io()  # waits for the last write
    last = json.loads(path.read_text("utf-8"))
    assert last["stopped"] is True and last["ok"] is False
    assert last["updated_at"] == "2026-11-25T09:16:18Z"
    assert last["message"]["en"].startswith("econnector is stopped")
    assert not [p for p in cfg.folders.inbox.iterdir() if p.name != path.name]  # no temp left
    pipe.store.close()


def test_a_failing_write_never_raises_and_recovers(tmp_path: Path) -> None:
    cfg, pipe = _pipeline(tmp_path)
    hb = heartbeat.Heartbeat(cfg, pipe, lambda: True, "9.9.9", clock=lambda: NOW)
    hb.path.mkdir()  # something that is not a file holds the name
    hb._write(hb.document())
    assert hb._failing and hb.path.is_dir()
    hb.path.rmdir()
    hb._write(hb.document())
    assert not hb._failing and json.loads(hb.path.read_text("utf-8"))["node"] == cfg.node.id
    pipe.close_io()
    pipe.store.close()


def test_each_pc_of_a_shared_inbox_writes_its_own_file(tmp_path: Path) -> None:
    cfg, pipe = _pipeline(tmp_path)
    shared = dataclasses.replace(cfg, node=dataclasses.replace(cfg.node, id="reception-2",
                                                               shared_outbox=True))
    hb = heartbeat.Heartbeat(shared, pipe, lambda: True, "9.9.9", clock=lambda: NOW)
    assert hb.path == cfg.folders.inbox / "_econnector.reception-2.json"
    assert hb.document()["node"] == "reception-2"
    assert heartbeat.Heartbeat(cfg, pipe, lambda: True, "9.9.9").path.name == "_econnector.json"
    pipe.close_io()
    pipe.store.close()


def test_the_documented_example_is_what_build_writes() -> None:
    """docs/folder-contract.md 7.9: the same fields, the same texts."""
    text = (Path(__file__).parents[2] / "docs" / "folder-contract.md").read_text("utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)
              if heartbeat.SCHEMA in b]
    assert len(blocks) == 1
    example = blocks[0]
    doc = _doc(vault_state="outage", oldest=heartbeat.Oldest("signed", NOW - 802))
    assert set(example) == set(doc)
    assert set(example["counts"]) == set(doc["counts"])
    assert set(example["identities"]["90812100"]) == set(doc["identities"][PROVIDER])
    assert example["reasons"] == doc["reasons"] == ["vault-unavailable"]
    assert example["message"] == doc["message"]
    assert example["stale_message"] == doc["stale_message"]
    assert example["vault"] == doc["vault"]
    assert (_t(example["stale_after"]) - _t(example["updated_at"])).total_seconds() == (
        3 * example["interval_s"])
    assert f"inbox/{heartbeat.FILE}`" in text and "`_econnector.<node id>.json`" in text
