"""Which doctors can sign now (issue 11, points 3 and 4): the pure decisions of the
doctor's unlock, lock and auto-lock, the control channel's requests, and what the
``unlock`` command says. The token itself is tested with SoftHSM2 in tests/e2e."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import pytest

from econnector import cli, config, control, tokens
from econnector.config import Identity, Pkcs11Key
from econnector.errors import IdentityHeld
from econnector.identities import (
    WAITING_FOR_DOCTOR,
    Absent,
    Identities,
    Locked,
    Opened,
    auto_lock_due,
    secret_digest,
)
from econnector.messages import PHRASES
from econnector.messages.unlock_command import UNLOCK_TEXTS
from econnector.signer import SignerInfo
from econnector_testsupport.configs import MINIMAL
from econnector_testsupport.english import english_words

PC = "90812100"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
INFO = SignerInfo(PC, "CN=Dr", "01", not_after="2027-01-01T00:00:00+00:00",
                  not_before="2025-01-01T00:00:00+00:00")


def manual(pc: str = PC, auto_lock: float | None = None) -> Identity:
    key = Pkcs11Key(Path("/usr/lib/softhsm/libsofthsm2.so"), "T", "signer", None, None)
    return Identity(pc, "Dr", None, None, None, pkcs11=key, unlock="manual",
                    auto_lock_after=auto_lock)


@pytest.mark.parametrize(("after", "unlocked_at", "last_used", "now", "due"), [
    (None, 0.0, None, 1e9, False),         # no auto_lock_after: never
    (600.0, None, None, 1e9, False),       # not unlocked: nothing to lock
    (600.0, 1000.0, None, 1599.0, False),  # unlocked, never used, not long enough
    (600.0, 1000.0, None, 1600.0, True),   # ... idle for exactly the limit
    (600.0, 1000.0, 1500.0, 2099.0, False),  # a signature restarts the wait
    (600.0, 1000.0, 1500.0, 2100.0, True),
    (600.0, 1000.0, 900.0, 1600.0, True),  # a signature before the unlock does not count
])
def test_auto_lock_decision(after: float | None, unlocked_at: float | None,
                            last_used: float | None, now: float, due: bool) -> None:
    assert auto_lock_due(after, unlocked_at, last_used, now) is due


def test_a_manual_identity_waits_for_its_doctor_then_signs_with_the_pin() -> None:
    ids, ident = Identities(), manual()
    assert ids.to_try([ident], NOW) == [(ident, None)]  # no PIN: only look for the token
    ids.settle(ident, Locked(WAITING_FOR_DOCTOR, False), NOW)
    held = ids.hold_for(PC)
    assert held is not None and held.code == "identity-locked"
    assert held.params["detail"] == WAITING_FOR_DOCTOR
    rep = ids.report([PC])[PC]
    assert rep["must_act"] == "doctor" and rep["command"] == f"econnector unlock {PC}"
    assert rep["unlock"] == "manual"

    assert ids.give(ident, Opened(INFO, b"1234"), NOW, wall=1000.0)
    assert ids.can_sign(PC) and ids.secrets[PC] == b"1234" and ids.pins[PC] == b"1234"
    assert ids.report([PC])[PC]["must_act"] is None
    assert "1234" not in repr(ids)

    # A wrong PIN later changes nothing; locking forgets the PIN.
    assert not ids.give(ident, Locked("wrong PIN", False, wrong_secret=True), NOW)
    assert ids.can_sign(PC)
    assert ids.lock(PC)
    assert not ids.can_sign(PC) and PC not in ids.pins and PC not in ids.secrets
    assert ids.to_try([ident], NOW) == [(ident, None)]
    assert not ids.lock(PC)  # already locked: nothing for the workers to drop


def test_a_pulled_token_holds_and_keeps_the_doctors_pin() -> None:
    ids, ident = Identities(), manual()
    ids.to_try([ident], NOW)
    ids.give(ident, Opened(INFO, b"1234"), NOW, wall=1000.0)
    ids.refuse(PC, IdentityHeld("token-absent", provider=PC, detail=tokens.TOKEN_REMOVED), NOW)
    held = ids.hold_for(PC)
    assert held is not None and held.code == "token-absent"
    assert ids.why(PC) == ("token-absent", tokens.TOKEN_REMOVED)
    assert ids.report([PC])[PC]["must_act"] == "doctor"
    # Looked for again at the next rescan, with the PIN the doctor gave.
    assert ids.to_try([ident], NOW) == [(ident, b"1234")]
    assert ids.settle(ident, Opened(INFO, b"1234"), NOW)
    assert ids.can_sign(PC) and PC not in ids.absent


def test_a_token_that_is_not_there_is_said_as_such() -> None:
    ids, ident = Identities(), manual()
    ids.settle(ident, Absent(tokens.NO_TOKEN), NOW)
    assert ids.blocked() == [PC]
    held = ids.hold_for(PC)
    assert held is not None and held.code == "token-absent"


def test_only_idle_unlocked_manual_identities_lock_themselves() -> None:
    ids = Identities()
    a, b, c = manual("90000001", 600.0), manual("90000002", 600.0), manual("90000003")
    for ident in (a, b, c):
        ids.give(ident, Opened(SignerInfo(ident.provider_code, "CN=x", "1", INFO.not_after,
                                          INFO.not_before), b"p"), NOW, wall=1000.0)
    ids.used("90000002", 1500.0)
    assert ids.idle([a, b, c], 1700.0) == ["90000001"]
    assert ids.idle([a, b, c], 2200.0) == ["90000001", "90000002"]


@pytest.mark.parametrize(("flags", "locked", "detail", "tries"), [
    (0, False, tokens.WRONG_PIN, None),
    (0x10000, False, tokens.WRONG_PIN_FEW, "few"),
    (0x20000 | 0x10000, False, tokens.WRONG_PIN_FINAL, "one"),
    (0x40000, False, tokens.PIN_BLOCKED, "none"),
    (0, True, tokens.PIN_BLOCKED, "none"),
])
def test_what_a_refused_pin_says(flags: int, locked: bool, detail: str,
                                 tries: str | None) -> None:
    refused = tokens.pin_refusal(flags, locked)
    assert (refused.detail, refused.tries_left) == (detail, tries)


# -- the control channel's requests ---------------------------------------------------------


def test_control_requests_are_parsed_strictly() -> None:
    req = control.parse_request(b'{"op": "unlock", "provider": "90812100", "pin": "12 34"}\n')
    assert (req.op, req.provider, req.pin) == ("unlock", PC, b"12 34")
    assert "12 34" not in repr(req)
    assert control.parse_request(b'{"op": "lock", "provider": null}').provider is None
    assert control.parse_request(b'{"op": "status"}').op == "status"
    for bad in (b"", b"not json", b"[1]", b'{"op": "shutdown"}', b'{"op": "unlock"}',
                b'{"op": "unlock", "provider": "90812100"}',
                b'{"op": "unlock", "provider": "90812100", "pin": ""}',
                b'{"op": "unlock", "provider": 90812100, "pin": "1"}'):
        with pytest.raises(control.BadRequest):
            control.parse_request(bad)


def test_the_runtime_folder_is_systemds_else_under_work(tmp_path: Path) -> None:
    cfg = config.parse(MINIMAL, tmp_path)
    assert control.socket_path(cfg, {}) == cfg.folders.work / "run" / "control.sock"
    env = {"RUNTIME_DIRECTORY": "/run/econnector:/run/other"}
    assert control.socket_path(cfg, env) == Path("/run/econnector/control.sock")
    assert control.client_paths(cfg, {})[0] == cfg.folders.work / "run" / "control.sock"


# -- what ``econnector unlock`` says ---------------------------------------------------------


@pytest.mark.parametrize(("answer", "start", "rc"), [
    ({"result": "unlocked"}, "Unlocked", 0),
    ({"result": "wrong-pin", "tries_left": None}, "Wrong PIN", 1),
    ({"result": "wrong-pin", "tries_left": "few"}, "Wrong PIN", 1),
    ({"result": "wrong-pin", "tries_left": "one"}, "Wrong PIN", 1),
    ({"result": "wrong-pin", "tries_left": "none"}, "The card's PIN is blocked", 1),
    ({"result": "token-absent"}, "The signing card or stick", 1),
    ({"result": "locked", "detail": tokens.NO_KEY}, f"{PC} stays locked", 1),
    ({"result": "cannot-sign", "reason": "certificate-expired", "detail": "x"},
     "The PIN is right", 1),
    ({"result": "surprise"}, "econnector gave an unexpected answer", 1),
])
def test_unlock_answers_in_words(answer: dict[str, object], start: str, rc: int) -> None:
    text, code = cli.unlock_answer(answer, PC, "en")
    assert text.startswith(start) and code == rc
    for lang in ("fr", "de"):
        text, code = cli.unlock_answer(answer, PC, lang)
        assert code == rc and not english_words(text), (lang, text)


def test_unlock_texts_exist_in_every_language_with_the_same_fields() -> None:
    def fields(t: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(t) if f}

    for lang in ("fr", "de"):
        assert set(UNLOCK_TEXTS[lang]) == set(UNLOCK_TEXTS["en"])
        for key, text in UNLOCK_TEXTS[lang].items():
            assert fields(text) == fields(UNLOCK_TEXTS["en"][key]), (lang, key)
            assert not english_words(text), (lang, key, english_words(text))
    ours = (WAITING_FOR_DOCTOR, tokens.NO_TOKEN, tokens.TOKEN_REMOVED, tokens.MODULE_UNUSABLE,
            tokens.NO_KEY, tokens.WRONG_PIN, tokens.WRONG_PIN_FEW, tokens.WRONG_PIN_FINAL,
            tokens.PIN_BLOCKED, tokens.PIN_EXPIRED)
    for detail in ours:
        assert set(PHRASES[detail]) == {"fr", "de"}, detail


def test_a_refused_token_pin_is_never_tried_on_the_card_again(tmp_path: Path) -> None:
    """Every wrong try brings a card closer to blocking: a PIN file the card refused is
    not tried again until it holds another PIN; a held PIN the card refuses is dropped."""
    pin_file = tmp_path / "pin"
    pin_file.write_bytes(b"1234\n")
    key = Pkcs11Key(tmp_path / "no-such-module.so", "T", "signer", None, None)
    ident = Identity(PC, "Dr", None, pin_file, None, pkcs11=key, unlock="file")
    ids = Identities()
    refused = secret_digest(b"1234")
    ids.settle(ident, Locked(tokens.WRONG_PIN, False, wrong_secret=True, digest=refused), NOW)
    assert ids.refused[PC] == refused
    again = ids.attempt(ident, None)  # the module does not exist: not even loaded
    assert isinstance(again, Locked) and again.wrong_secret and again.digest == refused
    pin_file.write_bytes(b"5678\n")
    other = ids.attempt(ident, None)  # a new PIN is tried (here: the module is missing)
    assert isinstance(other, Locked) and other.detail == tokens.MODULE_UNUSABLE

    m = manual()
    ids.give(m, Opened(INFO, b"1234"), NOW)
    ids.refuse(PC, IdentityHeld("token-absent", provider=PC, detail=tokens.NO_TOKEN), NOW)
    ids.settle(m, Locked(tokens.WRONG_PIN, False, wrong_secret=True, digest=refused), NOW)
    assert PC not in ids.pins and ids.report([PC])[PC]["must_act"] == "doctor"
