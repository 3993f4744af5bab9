"""Doctors' signing identities: which can sign now, and why the others cannot.

One module for the daemon (which unlocks at start, retries the locked ones on
every rescan and stops signing with a certificate the moment it expires) and
for ``check-config`` (which says the same thing to IT before the start, with
the fix). Opening an identity reads its passphrase and its PKCS#12 file (the
only I/O here); what follows from the certificate's dates is decided purely
from ``now``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from .errors import Held, IdentityHeld
from .signer import EXPIRY_WARNING_DAYS, SignerInfo, days_left, identity_info, validity

if TYPE_CHECKING:
    from .config import Identity

log = structlog.get_logger("econnector.identities")

# Hold reasons that end when the doctor's identity can sign again.
IDENTITY_HOLDS = frozenset({"identity-locked", "certificate-expired",
                            "certificate-not-yet-valid"})


@dataclass(frozen=True, slots=True)
class Opened:
    """The key opened with its passphrase (its certificate may still be out of date)."""

    info: SignerInfo
    secret: bytes


@dataclass(frozen=True, slots=True)
class Locked:
    """The key cannot be used: ``no_secret`` when the passphrase could not be read
    (else the file or the passphrase is wrong); ``detail`` in English."""

    detail: str
    no_secret: bool
    error: BaseException


def open_identity(ident: Identity) -> Opened | Locked:
    """Read the passphrase now (it may be provided after start) and open the key."""
    try:
        secret = ident.passphrase()
    except (OSError, KeyError, UnicodeError) as e:
        detail = "no passphrase available" if isinstance(e, KeyError) else str(e)
        return Locked(detail, True, e)
    try:
        info = identity_info(ident.provider_code, ident.pkcs12, secret)
    except Held as e:
        return Locked(str(e.params.get("detail", "")), False, e)
    return Opened(info, secret)


@dataclass
class Identities:
    """Which doctors can sign now; the others are retried on every rescan."""

    unlocked: dict[str, SignerInfo] = field(default_factory=dict)
    locked: dict[str, str] = field(default_factory=dict)  # provider -> reason detail
    secrets: dict[str, bytes] = field(default_factory=dict)
    # The key opens but the certificate must not sign now (expired, not yet valid).
    invalid: dict[str, tuple[SignerInfo, IdentityHeld]] = field(default_factory=dict)

    def blocked(self) -> list[str]:
        """Provider codes that cannot sign now, for whatever reason."""
        return sorted({*self.locked, *self.invalid})

    def can_sign(self, pc: str | None) -> bool:
        return pc is not None and pc in self.unlocked

    def why(self, pc: str) -> tuple[str, str]:
        """(catalog code, short English detail) of an identity that cannot sign."""
        if pc in self.invalid:
            info, held = self.invalid[pc]
            if held.code == "certificate-expired":
                return held.code, f"certificate expired on {info.not_after}"
            return held.code, f"certificate valid only from {info.not_before}"
        return "identity-locked", self.locked.get(pc, "locked")

    def hold_for(self, pc: str) -> IdentityHeld | None:
        """Why a document of ``pc`` must wait instead of being signed now, or None."""
        if pc in self.invalid:  # expired or not yet valid: never signed with
            return self.invalid[pc][1]
        if pc not in self.unlocked:
            return IdentityHeld("identity-locked", provider=pc,
                                detail=self.locked.get(pc, "locked"))
        return None

    def report(self, providers: list[str]) -> dict[str, dict[str, Any]]:
        """The "identities" map of the health file (no secrets)."""
        out: dict[str, dict[str, Any]] = {}
        for pc in providers:
            info = self.unlocked.get(pc) or (self.invalid[pc][0] if pc in self.invalid else None)
            ok = pc in self.unlocked
            reason, detail = (None, "") if ok else self.why(pc)
            out[pc] = {"state": "unlocked" if ok else "locked", "reason": reason,
                       "detail": detail,
                       "not_before": (info.not_before or None) if info else None,
                       "not_after": info.not_after if info else None}
        return out

    def expire(self, now: dt.datetime) -> list[str]:
        """A certificate that ran out (or is not valid yet) stops signing at once: its
        documents are held from now on. Returns the providers that just stopped."""
        stopped = []
        for pc, info in list(self.unlocked.items()):
            held = validity(info, now)
            if held is not None:
                del self.unlocked[pc]
                self.secrets.pop(pc, None)
                self.invalid[pc] = (info, held)
                stopped.append(pc)
                log.warning("identity-cannot-sign", provider=pc, reason=held.code,
                            not_before=info.not_before, not_after=info.not_after)
        return stopped

    def unlock(self, identities: Iterable[Identity], now: dt.datetime) -> bool:
        """Try every identity that cannot sign (a key that does not open, a certificate
        outside its validity); True when one became usable."""
        changed = False
        for ident in identities:
            pc = ident.provider_code
            if pc in self.unlocked:
                continue
            opened = open_identity(ident)
            if isinstance(opened, Locked):
                self.locked[pc] = opened.detail[:120] if opened.no_secret else opened.detail
                self.invalid.pop(pc, None)
                continue
            self.locked.pop(pc, None)
            held = validity(opened.info, now)
            if held is not None:
                self.invalid[pc] = (opened.info, held)
                continue
            self.invalid.pop(pc, None)
            self.unlocked[pc] = opened.info
            self.secrets[pc] = opened.secret
            changed = True
            log.info("identity-unlocked", provider=pc)
        for pc in self.blocked():
            reason, detail = self.why(pc)
            log.warning("identity-locked", provider=pc, reason=reason, detail=detail)
        return changed


# -- check-config: the same judgement, said to IT with the fix ---------------------------


def _day(iso: str) -> str:
    return iso[:10]


def _who(ident: Identity) -> str:
    return f"identity {ident.provider_code} ({ident.name})"


def identity_verdict(ident: Identity, info: SignerInfo, now: dt.datetime
                     ) -> tuple[str | None, str | None]:
    """(problem, warning) for an unlocked identity at ``now``: a certificate that is
    expired or not valid yet cannot sign; one that expires within
    ``EXPIRY_WARNING_DAYS`` days is a warning. Pure."""
    key = f"identities[{ident.index}].pkcs12"
    held = validity(info, now)
    span = f"valid {_day(info.not_before)} to {_day(info.not_after)}"
    if held is not None and held.code == "certificate-expired":
        return (f"{key}: certificate-expired: the signing certificate of {_who(ident)} "
                f"expired on {_day(info.not_after)} ({span}); econnector does not sign with "
                "it: install the doctor's renewed certificate (a new .p12 file) and run "
                "check-config again"), None
    if held is not None:
        return (f"{key}: certificate-not-yet-valid: the signing certificate of {_who(ident)} "
                f"is valid only from {_day(info.not_before)} ({span}); econnector does not "
                "sign with it before then: check this computer's date, or install the "
                "current certificate"), None
    left = days_left(info, now)
    if left <= EXPIRY_WARNING_DAYS:
        n = math.ceil(left)
        return None, (f"{key}: the signing certificate of {_who(ident)} expires on "
                      f"{_day(info.not_after)}, in {n} day{'' if n == 1 else 's'}; order the "
                      "renewal now "
                      "(after that day the doctor's documents wait, unsigned)")
    return None, None


def check_identity(ident: Identity, now: dt.datetime) -> tuple[str, str | None, str | None]:
    """(line for stdout, problem, warning): can this identity sign now, and if not, why
    (named with its key and the fix)."""
    who = _who(ident)
    opened = open_identity(ident)
    if isinstance(opened, Locked) and opened.no_secret:
        source = ("set it for the service (a systemd drop-in), or use passphrase_file or "
                  "passphrase_credential" if ident.passphrase_env else
                  "check the unit's LoadCredential= line (outside systemd, "
                  "$CREDENTIALS_DIRECTORY must name the folder)" if ident.passphrase_credential
                  else "create it (mode 0600, owned by the service user) or correct the path")
        return f"{who}: LOCKED", f"{opened.error}; {who} cannot sign: {source}", None
    if isinstance(opened, Locked):
        detail = opened.detail or "locked"
        fix = ("check the passphrase and the .p12 file" if "passphrase" in detail else
               "make it readable by the service user (mode 0600 or 0640)")
        return (f"{who}: LOCKED", f"identities[{ident.index}].pkcs12: {who} cannot sign: "
                f"{detail} ({ident.pkcs12}); {fix}", None)
    info = opened.info
    problem, warning = identity_verdict(ident, info, now)
    state = "CANNOT SIGN" if problem else "unlocked"
    return (f"{who}: {state} ({info.subject}, valid "
            f"{_day(info.not_before)} to {_day(info.not_after)})", problem, warning)
