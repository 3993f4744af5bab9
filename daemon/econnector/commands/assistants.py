"""``econnector assistant add | revoke | list``: the doctor's grants to assistants.

Adding and revoking need the doctor at the computer: the passphrase (PKCS#12) or PIN
(PKCS#11) is typed at that moment, even for an identity that unlocks itself from a
file, and the doctor's key signs the grant or the revocation
(:mod:`econnector.assistants`). Nothing is recorded when the key does not open. The
secret is read as ``econnector unlock`` reads it (a terminal prompt without echo, or
the first line of standard input), never from an argument.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..assistants import Grant, OnEvent
    from ..config import Config, Identity

EXIT_OK, EXIT_REFUSED = 0, 1


def text(key: str, lang: str, **params: object) -> str:
    from ..messages.assistants_command import ASSISTANT_TEXTS

    return ASSISTANT_TEXTS.get(lang, ASSISTANT_TEXTS["en"])[key].format(**params)


def since(stamp: str) -> str:
    """``2026-11-30 18:40 UTC`` from the stored ISO time (people read it)."""
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


def on_event(cfg: Config) -> OnEvent | None:
    """Where additions and revocations go besides the grants database: the audit trail
    (``assistant-added`` / ``assistant-revoked`` with the data of ``assistants._event``)."""
    from .. import audit

    return audit.cli_recorder(cfg)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``assistant`` with its three subcommands."""
    from ..cli import _add_config

    lang_help = "language of the text (default: the config's receipts.default_language)"
    p = sub.add_parser("assistant", help="register, list or revoke the assistants who send "
                                         "documents on a doctor's behalf")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    s = verbs.add_parser("add", help="register an assistant: the doctor types the passphrase "
                                     "or PIN, and the doctor's key signs the grant")
    s.add_argument("--provider", required=True, metavar="PROVIDER_CODE")
    s.add_argument("--login", required=True,
                   help="the assistant's login, as the practice software sends it in "
                        "submitted_by")
    s.add_argument("--name", required=True, help="the assistant's full name")
    _add_config(s)
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None, help=lang_help)
    s.set_defaults(func=cmd_add)
    s = verbs.add_parser("revoke", help="revoke an assistant: the doctor types the passphrase "
                                        "or PIN, and the doctor's key signs the revocation")
    s.add_argument("--provider", required=True, metavar="PROVIDER_CODE")
    s.add_argument("--login", required=True)
    _add_config(s)
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None, help=lang_help)
    s.set_defaults(func=cmd_revoke)
    s = verbs.add_parser("list", help="the assistants, revoked ones too, and whether each "
                                      "grant's signature checks")
    s.add_argument("--provider", default=None, metavar="PROVIDER_CODE")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(s)
    s.add_argument("--lang", choices=("fr", "de", "en"), default=None, help=lang_help)
    s.set_defaults(func=cmd_list)


def _grants(cfg: Config) -> Any:
    from ..assistants import Grants, db_path

    return Grants(db_path(cfg))


def _identity(cfg: Config, provider: str, lang: str) -> Identity | None:
    ident = cfg.identity(provider)
    if ident is None:
        print(text("unknown-provider", lang, provider=provider))
    return ident


def _with_doctor(cfg: Config, ident: Identity, lang: str, act: Any) -> int:
    """Ask the doctor's secret, open the key and run ``act(key)``; the refusal's text
    and exit 1 when the key does not open (nothing recorded)."""
    from .. import assistants, tokens
    from ..cli import _read_pin
    from ..errors import IdentityHeld
    from ..messages import phrase

    pc = ident.provider_code
    prompt = "prompt-pin" if ident.pkcs11 is not None else "prompt-passphrase"
    secret = _read_pin(text(prompt, lang, provider=pc, name=ident.name))
    if not secret:
        print(text("empty-secret", lang))
        return EXIT_REFUSED
    try:
        with assistants.doctor_key(ident, secret.encode("utf-8")) as key:
            del secret
            return int(act(key))
    except tokens.WrongPin as e:
        which = {tokens.TRIES_FEW: "wrong-pin-few", tokens.TRIES_ONE: "wrong-pin-one",
                 tokens.TRIES_NONE: "pin-blocked"}.get(e.tries_left or "", "wrong-pin")
        print(text(which, lang, provider=pc))
    except IdentityHeld as e:
        detail = str(e.params.get("detail") or "")
        if e.code == "token-absent":
            print(text("token-absent", lang, provider=pc))
        elif detail == assistants.WRONG_PASSPHRASE:
            print(text("wrong-passphrase", lang, provider=pc))
        else:
            print(text("refused", lang, provider=pc, detail=phrase(detail, lang)))
    return EXIT_REFUSED


def cmd_add(args: argparse.Namespace) -> int:
    from .. import assistants
    from ..cli import _load

    cfg = _load(args)
    lang = args.lang or cfg.default_language
    pc, login, name = args.provider, args.login, " ".join(args.name.split())
    ident = _identity(cfg, pc, lang)
    if ident is None:
        return EXIT_REFUSED
    if not assistants.LOGIN.fullmatch(login):
        print(text("bad-login", lang, login=login))
        return EXIT_REFUSED
    if login in (pc, ident.login):
        print(text("login-is-doctor", lang, login=login, provider=pc))
        return EXIT_REFUSED
    if not name or len(name) > assistants.NAME_MAX or not name.isprintable():
        print(text("bad-name", lang))
        return EXIT_REFUSED
    grants = _grants(cfg)
    try:
        current = grants.latest(pc, login)
        if current is not None and current.revoked_at is None:  # before the doctor types
            print(text("already", lang, login=login, name=current.name, provider=pc,
                       since=since(current.granted_at)))
            return EXIT_REFUSED

        def act(key: assistants.DoctorKey) -> int:
            try:
                g = grants.add(key, login, name, datetime.now(UTC), on_event(cfg))
            except assistants.AlreadyGranted as e:
                print(text("already", lang, login=login, name=e.grant.name, provider=pc,
                           since=since(e.grant.granted_at)))
                return EXIT_REFUSED
            print(text("added", lang, login=login, name=name, provider=pc,
                       since=since(g.granted_at)))
            return EXIT_OK

        return _with_doctor(cfg, ident, lang, act)
    finally:
        grants.close()


def cmd_revoke(args: argparse.Namespace) -> int:
    from .. import assistants
    from ..cli import _load

    cfg = _load(args)
    lang = args.lang or cfg.default_language
    pc, login = args.provider, args.login
    ident = _identity(cfg, pc, lang)
    if ident is None:
        return EXIT_REFUSED
    grants = _grants(cfg)
    try:
        current = grants.latest(pc, login)
        if current is None or current.revoked_at is not None:
            print(text("not-found", lang, login=login, provider=pc))
            return EXIT_REFUSED

        def act(key: assistants.DoctorKey) -> int:
            try:
                g = grants.revoke(key, login, datetime.now(UTC), on_event(cfg))
            except assistants.NotGranted:
                print(text("not-found", lang, login=login, provider=pc))
                return EXIT_REFUSED
            print(text("revoked", lang, login=login, name=g.name, provider=pc,
                       since=since(g.granted_at)))
            return EXIT_OK

        return _with_doctor(cfg, ident, lang, act)
    finally:
        grants.close()


def current_cert(ident: Identity) -> str | None:
    """The SHA-256 of the certificate the doctor signs with now, when it can be read
    without the doctor (a token's certificate, a key whose passphrase is configured);
    None otherwise (``list`` then checks each grant against its own certificate)."""
    try:
        if ident.pkcs11 is not None:
            from ..tokens import read_certificate

            info = read_certificate(ident)
            return info.cert_sha256 if info is not None else None
        if ident.pkcs12 is not None and (ident.passphrase_file or ident.passphrase_env
                                         or ident.passphrase_credential):
            from ..signer import identity_info

            return identity_info(ident.provider_code, ident.pkcs12,
                                 ident.passphrase()).cert_sha256
    except Exception:  # unreadable now: not a reason to refuse the list
        return None
    return None


def signature_state(grant: Grant, cert: str | None) -> str:
    """``valid``, ``invalid`` (changed after signing, or not the doctor's signature) or
    ``other-cert`` (intact, but not by the certificate the doctor signs with now)."""
    if not grant.signature_ok():
        return "invalid"
    if cert is not None and grant.doctor_cert_sha256 != cert:
        return "other-cert"
    return "valid"


def cmd_list(args: argparse.Namespace) -> int:
    from ..cli import _load

    cfg = _load(args)
    lang = args.lang or cfg.default_language
    if args.provider is not None and _identity(cfg, args.provider, lang) is None:
        return EXIT_REFUSED
    grants = _grants(cfg)
    try:
        rows = grants.rows(args.provider)
    finally:
        grants.close()
    certs: dict[str, str | None] = {}
    for pc in {g.provider_code for g in rows}:
        ident = cfg.identity(pc)
        certs[pc] = current_cert(ident) if ident is not None else None
    items = []
    for g in rows:
        items.append({
            "id": g.id, "provider_code": g.provider_code, "login": g.login, "name": g.name,
            "granted_at": g.granted_at, "revoked_at": g.revoked_at,
            "signature": signature_state(g, certs.get(g.provider_code)),
            "revocation_signature": (None if g.revoked_at is None
                                     else "valid" if g.revocation_ok() else "invalid"),
            "doctor_cert_sha256": g.doctor_cert_sha256,
        })
    if args.json:
        print(json.dumps({"assistants": items}, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not items:
        print(text("list-empty", lang))
        return EXIT_OK
    for line in list_lines(cfg, items, lang):
        print(line)
    return EXIT_OK


def list_lines(cfg: Config, items: list[dict[str, Any]], lang: str) -> list[str]:
    """The table of ``assistant list`` and, under it, what a bad signature means."""
    sig = {"valid": "sig-valid", "invalid": "sig-invalid", "other-cert": "sig-other-cert"}
    head = [text(k, lang) for k in ("col-login", "col-name", "col-doctor", "col-since",
                                    "col-revoked", "col-signature")]
    table = [head]
    for it in items:
        ident = cfg.identity(it["provider_code"])
        doctor = it["provider_code"] + (f" {ident.name}" if ident is not None else "")
        revoked = "-"
        if it["revoked_at"] is not None:
            revoked = since(it["revoked_at"])
            if it["revocation_signature"] == "invalid":
                revoked = text("revocation-invalid", lang, when=revoked)
        table.append([it["login"], it["name"], doctor, since(it["granted_at"]), revoked,
                      text(sig[it["signature"]], lang)])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in table]
    for state in ("invalid", "other-cert"):
        if any(it["signature"] == state for it in items):
            lines.append(text("legend-" + state, lang))
    return lines

