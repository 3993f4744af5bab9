"""Assistants: grants signed with the doctor's key, and the check of ``submitted_by``.

An assistant sends documents on a doctor's behalf. The doctor registers one while
present (``econnector assistant add``): the doctor's key signs a *grant*, a canonical
JSON document (who, for which doctor, since when, pinned to the doctor's certificate)
as a detached CMS SignedData (pyHanko's general-data signing). Revoking is signed
the same way. Grants live in ``work/assistants.sqlite`` (private, WAL).

Trust is by pinning, not by a certificate path: a grant counts only when its
signature is intact and made by the certificate the doctor signs documents with now
(``SignerInfo.cert_sha256``). So a row edited in the database (another login, another
doctor, another date) fails its check, and so does a grant signed by another key.
What the signature cannot show is a row deleted: deleting a grant refuses the
assistant (fail closed), but clearing a revocation brings a revoked grant back; the
audit trail records every addition and revocation for that reason.

The daemon checks each document with :meth:`Grants.check`: one indexed read of the
newest grant (so what the CLI changed counts at once), and a dict lookup after the
first verification of a row (verdicts are cached per row content and certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import IdentityHeld
from .sqlitedb import Schema, connect_private

if TYPE_CHECKING:
    from .config import Config, Identity

DB_NAME = "assistants.sqlite"
GRANT_SCHEMA = "econnector.assistant-grant/v1"
REVOCATION_SCHEMA = "econnector.assistant-revocation/v1"
# The grants file's versions (sqlitedb.migrate): 1 is the first release's table.
SCHEMA = Schema("assistants' grants", ((1, """
CREATE TABLE IF NOT EXISTS grants (id INTEGER PRIMARY KEY, provider_code TEXT NOT NULL,
    login TEXT NOT NULL, name TEXT NOT NULL, granted_at TEXT NOT NULL,
    grant_json TEXT NOT NULL, grant_cms BLOB NOT NULL, revoked_at TEXT,
    revocation_json TEXT, revocation_cms BLOB);
CREATE INDEX IF NOT EXISTS grants_login ON grants (provider_code, login);
"""),))
# As the sidecar's submitted_by (contract/validation.py): what the practice software sends.
LOGIN = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_MAX = 100
WRONG_PASSPHRASE = "wrong passphrase or damaged key"  # as signer.identity_info says it

Reason = Literal["missing", "unknown-assistant", "revoked", "grant-invalid"]
# What an addition or revocation tells the audit trail: (kind, data).
OnEvent = Callable[[str, dict[str, Any]], None]


def db_path(cfg: Config) -> Path:
    return cfg.folders.work / DB_NAME


def canonical(doc: dict[str, Any]) -> str:
    """The one text of a grant or revocation that is signed (sorted keys, no spaces)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the doctor's key ------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorKey:
    """The doctor's key, opened with what the doctor typed: signs grants and revocations."""

    provider_code: str
    cert_sha256: str
    signer: Any  # pyHanko's Signer (SimpleSigner or PKCS11Signer)

    def sign(self, data: bytes) -> bytes:
        """A detached CMS SignedData over ``data`` (DER). Not in a running event loop:
        the CLI signs, the daemon only verifies."""
        ci = asyncio.run(self.signer.async_sign_general_data(data, "sha256", detached=True))
        return bytes(ci.dump())


@contextlib.contextmanager
def doctor_key(ident: Identity, secret: bytes) -> Iterator[DoctorKey]:
    """The identity's key opened with the passphrase (PKCS#12) or PIN (PKCS#11) the
    doctor typed; a token session is closed on exit. Raises IdentityHeld as unlocking
    does: ``identity-locked`` with :data:`WRONG_PASSPHRASE`, ``tokens.WrongPin`` (tries
    left), ``token-absent``."""
    pc = ident.provider_code
    if ident.pkcs11 is not None:
        from . import tokens

        signer = tokens.worker_signer(pc, ident.pkcs11, secret)
        try:
            yield DoctorKey(pc, sha256_hex(signer.signing_cert.dump()), signer)
        finally:
            tokens.forget(pc)
        return
    from pyhanko.sign.signers import SimpleSigner

    from .signer import read_identity

    assert ident.pkcs12 is not None
    data = read_identity(pc, ident.pkcs12)
    try:
        simple = SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=secret)
    except (ValueError, TypeError):
        raise IdentityHeld("identity-locked", provider=pc, detail=WRONG_PASSPHRASE) from None
    yield DoctorKey(pc, sha256_hex(simple.signing_cert.dump()), simple)


def verify_cms(data: bytes, cms_der: bytes) -> str | None:
    """The SHA-256 fingerprint of the certificate whose key signed ``data`` (a detached
    CMS SignedData over it, SHA-256), or None when the signature is not intact and
    valid or cannot be read. No path validation: the caller pins the certificate."""
    from asn1crypto import cms
    from pyhanko.sign.general import extract_signer_info
    from pyhanko.sign.validation.generic_cms import (
        extract_certs_for_validation,
        validate_sig_integrity,
    )

    try:
        signed_data = cms.ContentInfo.load(cms_der)["content"]
        cert = extract_certs_for_validation(signed_data).signer_cert
        info = extract_signer_info(signed_data)
        if info["digest_algorithm"]["algorithm"].native != "sha256":
            return None
        intact, valid = validate_sig_integrity(info, cert, "data",
                                               hashlib.sha256(data).digest())
    except Exception:  # any malformed blob, a tampered structure: not a valid grant
        return None
    return sha256_hex(cert.dump()) if intact and valid else None


# -- the rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    id: int
    provider_code: str
    login: str
    name: str
    granted_at: str
    grant_json: str
    grant_cms: bytes
    revoked_at: str | None
    revocation_json: str | None
    revocation_cms: bytes | None

    @property
    def content_hash(self) -> str:
        """What the cached verdict is keyed by: any edit of the signed part changes it."""
        h = hashlib.sha256()
        for part in (self.provider_code, self.login, self.name, self.granted_at,
                     self.grant_json):
            h.update(part.encode("utf-8") + b"\0")
        h.update(self.grant_cms)
        return h.hexdigest()

    def signature_ok(self, cert_sha256: str | None = None) -> bool:
        """The grant's signature is intact, made by the certificate its text names (and
        by ``cert_sha256`` when given), and the text says what the row's columns say."""
        try:
            doc = json.loads(self.grant_json)
        except ValueError:
            return False
        if not isinstance(doc, dict) or doc != {
            "schema": GRANT_SCHEMA, "provider_code": self.provider_code, "login": self.login,
            "name": self.name, "granted_at": self.granted_at,
            "doctor_cert_sha256": doc.get("doctor_cert_sha256"),
        }:
            return False
        signer = verify_cms(self.grant_json.encode("utf-8"), self.grant_cms)
        return (signer is not None and signer == doc["doctor_cert_sha256"]
                and (cert_sha256 is None or signer == cert_sha256))

    def revocation_ok(self) -> bool:
        """The revocation names this grant and is intact, signed by the certificate it
        names (the doctor's current one: after a renewal the doctor revokes grants
        signed with the previous one). A revoked grant counts as revoked either way
        (fail closed): this is for ``list``."""
        if self.revocation_json is None or self.revocation_cms is None:
            return False
        try:
            doc = json.loads(self.revocation_json)
        except ValueError:
            return False
        signer = verify_cms(self.revocation_json.encode("utf-8"), self.revocation_cms)
        return (isinstance(doc, dict) and doc.get("schema") == REVOCATION_SCHEMA
                and doc.get("provider_code") == self.provider_code
                and doc.get("login") == self.login
                and doc.get("grant_sha256") == sha256_hex(self.grant_json.encode("utf-8"))
                and doc.get("revoked_at") == self.revoked_at
                and signer is not None and doc.get("doctor_cert_sha256") == signer)

    @property
    def doctor_cert_sha256(self) -> str | None:
        try:
            value = json.loads(self.grant_json).get("doctor_cert_sha256")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Verdict:
    """May this ``submitted_by`` send for this doctor? ``reason`` says why not;
    ``role`` and ``name`` say who it is when it may (the receipt names the assistant)."""

    ok: bool
    reason: Reason | None = None
    role: Literal["doctor", "assistant"] | None = None
    name: str | None = None
    grant_id: int | None = None


class AlreadyGranted(Exception):
    def __init__(self, grant: Grant) -> None:
        super().__init__(grant.login)
        self.grant = grant


class NotGranted(Exception):
    pass


# The signatures as BLOBs even when someone stored text there (fails the check, no crash).
_COLUMNS = ("id, provider_code, login, name, granted_at, grant_json, CAST(grant_cms AS BLOB), "
            "revoked_at, revocation_json, CAST(revocation_cms AS BLOB)")


def _row(r: tuple[Any, ...]) -> Grant:
    return Grant(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                 bytes(r[6] or b""), r[7], r[8], bytes(r[9]) if r[9] is not None else None)


class Grants:
    """The grants database: written by the CLI, read by the daemon (one per process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect_private(path, SCHEMA)
        # Text that is not UTF-8 (written by hand) reads with U+FFFD: its check fails.
        self.conn.text_factory = lambda b: b.decode("utf-8", "replace")
        self._lock = threading.Lock()
        self._verified: dict[tuple[str, str], bool] = {}

    def close(self) -> None:
        self.conn.close()

    # -- reading -----------------------------------------------------------------------

    def rows(self, provider_code: str | None = None) -> list[Grant]:
        """Every grant (revoked ones too), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM grants"
        args: tuple[str, ...] = ()
        if provider_code is not None:
            sql, args = sql + " WHERE provider_code = ?", (provider_code,)
        return [_row(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def latest(self, provider_code: str, login: str) -> Grant | None:
        """The newest grant of this login for this doctor (revoked or not)."""
        r = self.conn.execute(f"SELECT {_COLUMNS} FROM grants WHERE provider_code = ? AND "
                              "login = ? ORDER BY id DESC LIMIT 1",
                              (provider_code, login)).fetchall()
        return _row(r[0]) if r else None

    def check(self, provider_code: str, submitted_by: str | None, *,
              doctor_login: str | None, doctor_cert_sha256: str,
              now: datetime | float) -> Verdict:
        """May ``submitted_by`` send this doctor's document now? The doctor (provider
        code or the identity's ``login``), or an assistant whose newest grant for this
        doctor is unrevoked, was granted by ``now`` (an aware datetime, or wall-clock
        seconds as the pipeline's clock gives them) and carries an intact signature
        by ``doctor_cert_sha256`` (the certificate the doctor signs with now)."""
        if not isinstance(now, datetime):
            now = datetime.fromtimestamp(now, UTC)
        if not submitted_by:
            return Verdict(False, "missing")
        if submitted_by == provider_code or (doctor_login and submitted_by == doctor_login):
            return Verdict(True, role="doctor")
        with self._lock:
            # The newest row is read for every check (a few rows, microseconds): a
            # grant edited, added or revoked by another process counts at once. The
            # signature verdicts stay cached by the row's content.
            grant = self.latest(provider_code, submitted_by)
            if grant is None:
                return Verdict(False, "unknown-assistant")
            if grant.revoked_at is not None:
                return Verdict(False, "revoked", grant_id=grant.id)
            key = (grant.content_hash, doctor_cert_sha256)
            ok = self._verified.get(key)
            if ok is None:
                ok = self._verified[key] = grant.signature_ok(doctor_cert_sha256)
        try:
            in_force = datetime.fromisoformat(grant.granted_at) <= now
        except ValueError:
            in_force = False
        if not ok or not in_force:
            return Verdict(False, "grant-invalid", grant_id=grant.id)
        return Verdict(True, role="assistant", name=grant.name, grant_id=grant.id)

    # -- writing (the CLI, with the doctor present) ------------------------------------

    def add(self, key: DoctorKey, login: str, name: str, now: datetime,
            on_event: OnEvent | None = None) -> Grant:
        """Sign and record a grant for ``login``; AlreadyGranted when one is in force."""
        pc = key.provider_code
        current = self.latest(pc, login)
        if current is not None and current.revoked_at is None:
            raise AlreadyGranted(current)
        granted_at = iso(now)
        text = canonical({"schema": GRANT_SCHEMA, "provider_code": pc, "login": login,
                          "name": name, "granted_at": granted_at,
                          "doctor_cert_sha256": key.cert_sha256})
        blob = key.sign(text.encode("utf-8"))
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self.latest(pc, login)  # another add meanwhile
            if current is not None and current.revoked_at is None:
                raise AlreadyGranted(current)
            cur = self.conn.execute(
                "INSERT INTO grants (provider_code, login, name, granted_at, grant_json, "
                "grant_cms) VALUES (?, ?, ?, ?, ?, ?)", (pc, login, name, granted_at, text, blob))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        grant = Grant(int(cur.lastrowid or 0), pc, login, name, granted_at, text, blob,
                      None, None, None)
        if on_event is not None:
            on_event("assistant-added", _event(grant, key.cert_sha256))
        return grant

    def revoke(self, key: DoctorKey, login: str, now: datetime,
               on_event: OnEvent | None = None) -> Grant:
        """Sign and record the revocation of the grant in force; NotGranted if none."""
        pc = key.provider_code
        current = self.latest(pc, login)
        if current is None or current.revoked_at is not None:
            raise NotGranted(login)
        revoked_at = iso(now)
        text = canonical({"schema": REVOCATION_SCHEMA, "provider_code": pc, "login": login,
                          "grant_sha256": sha256_hex(current.grant_json.encode("utf-8")),
                          "revoked_at": revoked_at, "doctor_cert_sha256": key.cert_sha256})
        blob = key.sign(text.encode("utf-8"))
        cur = self.conn.execute(
            "UPDATE grants SET revoked_at = ?, revocation_json = ?, revocation_cms = ? "
            "WHERE id = ? AND revoked_at IS NULL", (revoked_at, text, blob, current.id))
        if cur.rowcount != 1:
            raise NotGranted(login)
        grant = Grant(current.id, pc, login, current.name, current.granted_at,
                      current.grant_json, current.grant_cms, revoked_at, text, blob)
        if on_event is not None:
            on_event("assistant-revoked", _event(grant, key.cert_sha256))
        return grant


def _event(grant: Grant, cert_sha256: str) -> dict[str, Any]:
    """The audit entry's data: who and for whom, never a patient's data."""
    out: dict[str, Any] = {
        "provider_code": grant.provider_code, "login": grant.login, "name": grant.name,
        "grant_id": grant.id, "granted_at": grant.granted_at,
        "grant_sha256": sha256_hex(grant.grant_json.encode("utf-8")),
        "doctor_cert_sha256": cert_sha256,
    }
    if grant.revoked_at is not None:
        out["revoked_at"] = grant.revoked_at
    return out
