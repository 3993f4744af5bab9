"""``econnector doctor``'s decisions (doctor.py ``evaluate_*`` and the parsers of the
clock tools) and its rendering in fr, de and en (commands/doctor.py), without the
machine: each threshold on both sides."""

from __future__ import annotations

import dataclasses
import json
import string
from pathlib import Path
from typing import Any

import pytest

from econnector import doctor
from econnector.commands.doctor import document, line, message
from econnector.doctor import FAIL, OK, WARN, Check
from econnector.messages.doctor_command import DOCTOR_MOVES, DOCTOR_NAMES, DOCTOR_TEXTS

MIB = 1024 * 1024
GIB = 1024 * MIB
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- disk ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("free", "total", "expected"), [
    (100 * MIB - 1, 500 * GIB, (FAIL, "disk-full")),
    (100 * MIB, 1 * GIB, (WARN, "disk-low")),  # under 1 GiB
    (GIB - 1, 10 * GIB, (WARN, "disk-low")),
    (GIB, 10 * GIB, (OK, "disk-ok")),  # 10 %: fine
    (4 * GIB, 100 * GIB, (WARN, "disk-low")),  # 4 %: under 5 %
    (5 * GIB, 100 * GIB, (OK, "disk-ok")),  # exactly 5 %
    (2 * GIB, 0, (OK, "disk-ok")),  # a file system that reports no total
])
def test_disk_thresholds(free: int, total: int, expected: tuple[str, str]) -> None:
    assert doctor.evaluate_disk(free, total) == expected


# -- clock ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "expected"), [
    (0.0, (OK, "skew-ok")), (60.0, (OK, "skew-ok")), (-60.0, (OK, "skew-ok")),
    (60.5, (WARN, "skew-warn")), (-61.0, (WARN, "skew-warn")), (300.0, (WARN, "skew-warn")),
    (300.5, (FAIL, "skew-fail")), (-3600.0, (FAIL, "skew-fail")),
])
def test_skew_thresholds(seconds: float, expected: tuple[str, str]) -> None:
    assert doctor.evaluate_skew(seconds) == expected


def test_sync_states() -> None:
    assert doctor.evaluate_sync("synced") == OK
    assert doctor.evaluate_sync("not-synced") == WARN
    assert doctor.evaluate_sync("unknown") == WARN


def test_timedatectl_output() -> None:
    assert doctor.parse_timedatectl("yes\n") == "synced"
    assert doctor.parse_timedatectl("no\n") == "not-synced"
    assert doctor.parse_timedatectl("") == "unknown"


CHRONY_SYNCED = """Reference ID    : C0A80101 (gw.lan)
Stratum         : 3
System time     : 0.000012 seconds fast of NTP time
Leap status     : Normal
"""
CHRONY_NOT = """Reference ID    : 00000000 ()
Stratum         : 0
Leap status     : Not synchronised
"""


def test_chronyc_output() -> None:
    assert doctor.parse_chronyc(CHRONY_SYNCED) == "synced"
    assert doctor.parse_chronyc(CHRONY_NOT) == "not-synced"
    assert doctor.parse_chronyc("506 Cannot talk to daemon\n") == "unknown"


W32TM_SYNCED = """Leap Indicator: 0(no warning)
Stratum: 4 (secondary reference - syncd by (S)NTP)
Source: time.windows.com,0x9
"""
W32TM_CMOS = """Leap Indicator: 3(not synchronized)
Stratum: 0 (unspecified)
Source: Local CMOS Clock
"""


def test_w32tm_output() -> None:
    assert doctor.parse_w32tm(W32TM_SYNCED) == "synced"
    assert doctor.parse_w32tm(W32TM_CMOS) == "not-synced"
    assert doctor.parse_w32tm("Source: Free-running System Clock\n") == "not-synced"
    assert doctor.parse_w32tm("The following error occurred\n") == "unknown"


# -- heartbeat -----------------------------------------------------------------------------


def beat(age: float, interval: float = 5.0, **over: Any) -> dict[str, Any]:
    return {"schema": "econnector.heartbeat/v1", "updated_at": iso(NOW - age),
            "interval_s": interval, "ok": True, "watcher_healthy": True,
            "vault": {"reachable": True, "state": "open"}, **over}


def test_a_fresh_heartbeat_is_ok_up_to_three_intervals() -> None:
    status, key, params = doctor.evaluate_heartbeat(beat(2.0), NOW)
    assert (status, key) == (OK, "heartbeat-ok") and params == {"age": "2.0", "interval": "5.0"}
    assert doctor.evaluate_heartbeat(beat(15.0), NOW)[:2] == (OK, "heartbeat-ok")
    assert doctor.evaluate_heartbeat(beat(15.5), NOW)[:2] == (FAIL, "heartbeat-stale")
    assert doctor.evaluate_heartbeat(beat(100.0, interval=60), NOW)[0] == OK
    # written "in the future" (the clocks differ by a little): fresh, age 0
    assert doctor.evaluate_heartbeat(beat(-3.0), NOW)[1:] == (
        "heartbeat-ok", {"age": "0.0", "interval": "5.0"})


def test_a_missing_or_unreadable_heartbeat_fails() -> None:
    assert doctor.evaluate_heartbeat(None, NOW)[:2] == (FAIL, "heartbeat-missing")
    assert doctor.evaluate_heartbeat({}, NOW)[:2] == (FAIL, "heartbeat-bad")
    assert doctor.evaluate_heartbeat(beat(1, schema="other/v1"), NOW)[:2] == (
        FAIL, "heartbeat-bad")
    assert doctor.evaluate_heartbeat(beat(1, updated_at="yesterday"), NOW)[1] == "heartbeat-bad"
    assert doctor.evaluate_heartbeat(beat(1, interval_s=0), NOW)[1] == "heartbeat-bad"
    assert doctor.evaluate_heartbeat(beat(1, interval_s=True), NOW)[1] == "heartbeat-bad"
    # no fractional seconds, as a hand-written file has them
    assert doctor.evaluate_heartbeat(beat(1, updated_at=iso(NOW - 1)[:19] + "Z"), NOW)[0] == OK


def test_what_the_daemon_says_about_itself() -> None:
    assert doctor.evaluate_heartbeat(beat(1, watcher_healthy=False, ok=False), NOW)[:2] == (
        FAIL, "heartbeat-watcher")
    assert doctor.evaluate_heartbeat(beat(1, ok=False), NOW)[:2] == (FAIL, "heartbeat-not-ok")
    status, key, params = doctor.evaluate_heartbeat(
        beat(1, ok=False, vault={"reachable": False, "state": "closed"}), NOW)
    assert (status, key, params["state"]) == (WARN, "heartbeat-vault", "closed")
    # stale wins over everything it says
    assert doctor.evaluate_heartbeat(beat(60, watcher_healthy=False), NOW)[1] == \
        "heartbeat-stale"


# -- inotify, secrets, certificates, file systems ------------------------------------------


def test_inotify_limits() -> None:
    assert doctor.evaluate_inotify(8192, 16) == (OK, "inotify-ok")
    assert doctor.evaluate_inotify(8191, 128) == (WARN, "inotify-low")
    assert doctor.evaluate_inotify(524288, 15) == (WARN, "inotify-low")


@pytest.mark.parametrize(("mode", "status"), [
    (0o600, OK), (0o400, OK), (0o640, OK), (0o440, OK),  # docs/operations.md allows a group
    (0o644, FAIL), (0o604, FAIL), (0o660, FAIL), (0o601, FAIL), (0o666, FAIL),
])
def test_secret_file_modes(mode: int, status: str) -> None:
    assert doctor.evaluate_secret_mode(mode)[0] == status


def test_certificate_days() -> None:
    assert doctor.evaluate_cert_days(-0.01) == (FAIL, "cert-expired")
    assert doctor.evaluate_cert_days(0.5) == (WARN, "cert-soon")
    assert doctor.evaluate_cert_days(29.9) == (WARN, "cert-soon")
    assert doctor.evaluate_cert_days(30.0) == (OK, "cert-days")


def test_file_systems_name_each_move_that_is_not_a_rename() -> None:
    same = {"outbox": 1, "inbox": 1, "archive": 1, "failed": 1, "work": 1}
    assert doctor.evaluate_filesystems(same) == [Check("filesystems", OK, "fs-same", {})]
    split = doctor.evaluate_filesystems({**same, "archive": 2})
    assert [(c.status, c.params["a"], c.params["b"]) for c in split] == [
        (WARN, "outbox", "archive"), (WARN, "work", "archive")]
    # the inbox receives copies, never renames: its own file system is fine
    assert doctor.evaluate_filesystems({**same, "inbox": 9})[0].key == "fs-same"
    # an outbox on a share: both of its moves are copies
    assert [c.params["b"] for c in doctor.evaluate_filesystems({**same, "outbox": 3})] == [
        "archive", "failed"]


def test_exit_code_is_the_worst_status() -> None:
    ok, warn, fail = (Check("x", s, "detail", {"detail": "-"}) for s in (OK, WARN, FAIL))
    assert doctor.exit_code([]) == 0
    assert doctor.exit_code([ok, ok]) == 0
    assert doctor.exit_code([ok, warn]) == 1
    assert doctor.exit_code([warn, fail, ok]) == 2


# -- rendering ------------------------------------------------------------------------------


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_text_in_every_language_with_the_same_fields() -> None:
    for table in (DOCTOR_TEXTS, DOCTOR_NAMES, DOCTOR_MOVES):
        assert set(table) == {"en", "fr", "de"}
        for lang in ("fr", "de"):
            assert set(table[lang]) == set(table["en"]), lang
    for lang in ("fr", "de"):
        for key, text in DOCTOR_TEXTS[lang].items():
            assert fields(text) == fields(DOCTOR_TEXTS["en"][key]), (lang, key)
            if key not in ("detail", "inotify-ok", "secret-ok"):
                assert text != DOCTOR_TEXTS["en"][key], (lang, key)


CLOCK = Check("clock", OK, "clock-synced+skew-ok", {"tool": "chrony", "skew": "0.4"})


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "ok    clock: synchronised (chrony), 0.4 s from the vault"),
    ("fr", "ok    horloge: synchronisée (chrony), à 0.4 s du coffre-fort"),
    ("de", "ok    Uhr: synchronisiert (chrony), 0.4 s vom Safe entfernt"),
])
def test_a_line_in_each_language(lang: str, expected: str) -> None:
    assert line(CLOCK, lang) == expected


def test_statuses_and_moves_render_in_each_language() -> None:
    stale = Check("heartbeat", FAIL, "heartbeat-stale",
                  {"path": "/i/_econnector.json", "age": "42", "interval": "5.0"})
    assert line(stale, "en") == ("FAIL  heartbeat: /i/_econnector.json last written 42 s ago, "
                                 "expected every 5.0 s: the daemon is stuck; restart the "
                                 "service and read its log")
    assert line(stale, "de").startswith("FAIL  Lebenszeichen: /i/_econnector.json zuletzt "
                                        "vor 42 s")
    split = Check("filesystems", WARN, "fs-split",
                  {"a": "outbox", "b": "archive", "what": "delivered originals"})
    assert line(split, "fr").startswith("WARN  systèmes de fichiers: outbox et archive sont "
                                        "sur des systèmes de fichiers différents : les "
                                        "originaux remis sont copiés")
    assert "zugestellten Originale" in message(split, "de")
    assert "delivered originals" in message(split, "en")


def test_the_json_document() -> None:
    checks = [CLOCK, Check("daemon", WARN, "daemon-not-running", {"lock": "/w/daemon.lock"})]
    doc = json.loads(json.dumps(document(checks, "en")))
    assert doc["exit"] == 1
    assert doc["checks"][0] == {"name": "clock", "status": "ok",
                                "message": "synchronised (chrony), 0.4 s from the vault",
                                "params": {"tool": "chrony", "skew": "0.4"}}
    assert doc["checks"][1]["status"] == "warn" and "/w/daemon.lock" in doc["checks"][1][
        "message"]


# -- the probes that read the config's files (real identities, no mocks) --------------------


def test_certificates_are_judged_by_their_days_left(tmp_path: Path) -> None:
    import datetime as dt

    from econnector import config, testid
    from econnector_testsupport.daemon import write_config

    now = dt.datetime.now(dt.UTC)
    seen = {}
    for name, ends in (("expired", -3), ("soon", 20), ("fine", 400)):
        ti = testid.make_identity(tmp_path / name, "90812100", "Dr X", key_size=1024,
                                  not_before=now - dt.timedelta(days=500),
                                  not_after=now + dt.timedelta(days=ends))
        cfg = config.load(write_config(tmp_path / f"{name}-p", [("90812100", ti)]))
        seen[name] = doctor.check_identity(cfg.identities[0], now)
    assert (seen["expired"].status, seen["expired"].key) == (FAIL, "cert-expired")
    assert (seen["soon"].status, seen["soon"].key, seen["soon"].params["days"]) == (
        WARN, "cert-soon", 20)  # as check-config counts them (rounded up)
    assert (seen["fine"].status, seen["fine"].key) == (OK, "cert-days")
    assert line(seen["soon"], "fr").startswith("WARN  certificat: 90812100 (Dr 90812100) : "
                                               "expire dans 20 jours")
    # the heartbeat's name: one per node on a shared outbox
    plain = config.load(tmp_path / "fine-p" / "econnector.yaml")
    assert doctor.heartbeat_path(plain) == plain.folders.inbox / "_econnector.json"
    shared = dataclasses.replace(plain, node=config.Node(id="pc2", shared_outbox=True,
                                                         lease=120.0))
    assert doctor.heartbeat_path(shared) == plain.folders.inbox / "_econnector.pc2.json"
