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
import hashlib
import math
import os
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
                            "certificate-not-yet-valid", "certificate-revoked",
                            "certificate-key-usage", "token-absent"})

# A certificate a signing worker found revoked is judged again after this long (the
# status could be an error of the CA's, corrected later); a rescan does not retry it.
RECHECK_REFUSED = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Opened:
    """The key opened with its passphrase or PIN (its certificate may still be out of date)."""

    info: SignerInfo
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Locked:
    """The key cannot be used: ``no_secret`` when the passphrase could not be read
    (else the file, the passphrase or the PIN is wrong); ``detail`` in English (a phrase
    of messages/phrases.py when it is ours); ``tries_left`` in words when a token said."""

    detail: str
    no_secret: bool
    error: BaseException | None = None
    tries_left: str | None = None
    wrong_secret: bool = False  # the PIN or passphrase itself was refused
    digest: bytes = field(default=b"", repr=False)  # of the refused secret (secret_digest)


@dataclass(frozen=True, slots=True)
class Absent:
    """The identity's token is not connected."""

    detail: str


Outcome = Opened | Locked | Absent

# The detail of a manual identity that waits for its doctor (a phrase: translated).
WAITING_FOR_DOCTOR = "waiting for the doctor to unlock it with econnector unlock"


_SALT = os.urandom(16)


def secret_digest(secret: bytes) -> bytes:
    """A salted hash of a refused PIN (the salt lives and dies with this process), so the
    same wrong PIN is not tried on the card again."""
    return hashlib.sha256(_SALT + secret).digest()


def open_identity(ident: Identity, secret: bytes | None = None,
                  refused: bytes | None = None) -> Outcome:
    """Open the key with ``secret`` (a manual identity's PIN typed by the doctor), else
    with the passphrase or PIN read now from its file, variable or credential. A token's
    PIN whose :func:`secret_digest` is ``refused`` is not tried again: every wrong try
    brings a card closer to blocking. Blocks (a token may take a second): the daemon
    calls it in a thread."""
    if secret is None:
        try:
            secret = ident.passphrase()
        except (OSError, KeyError, UnicodeError) as e:
            detail = "no passphrase available" if isinstance(e, KeyError) else str(e)
            return Locked(detail, True, e)
    if refused is not None and ident.pkcs11 is not None and secret_digest(secret) == refused:
        from .tokens import WRONG_PIN

        return Locked(WRONG_PIN, False, wrong_secret=True, digest=refused)
    try:
        if ident.pkcs11 is not None:
            from . import tokens

            info = tokens.verify_pin(ident, secret)
        else:
            assert ident.pkcs12 is not None
            info = identity_info(ident.provider_code, ident.pkcs12, secret)
    except Held as e:
        detail = str(e.params.get("detail", ""))
        if e.code == "token-absent":
            return Absent(detail)
        wrong = hasattr(e, "tries_left") or (ident.pkcs11 is None
                                              and detail == "wrong passphrase or damaged key")
        return Locked(detail, False, e, getattr(e, "tries_left", None), wrong,
                      secret_digest(secret) if wrong else b"")
    return Opened(info, secret)


def probe_manual(ident: Identity) -> Outcome:
    """A manual identity without its PIN: absent when its token is not connected (the
    doctor must plug it in first), else waiting for the doctor. Blocks."""
    if ident.pkcs11 is not None:
        from . import tokens

        if not tokens.token_present(ident.pkcs11):
            return Absent(tokens.NO_TOKEN)
    return Locked(WAITING_FOR_DOCTOR, False)


def auto_lock_due(after: float | None, unlocked_at: float | None, last_used: float | None,
                  now: float) -> bool:
    """Must a manual identity lock itself again at ``now`` (wall-clock seconds)? Yes once
    ``after`` seconds passed without a signature since it was unlocked. Pure."""
    if after is None or unlocked_at is None:
        return False
    idle_since = max(unlocked_at, last_used if last_used is not None else unlocked_at)
    return now - idle_since >= after


@dataclass
class Identities:
    """Which doctors can sign now; the others are retried on every rescan.

    A manual identity (``unlock: manual``) is opened only with the PIN its doctor gave
    over the control channel (:meth:`give`); that PIN stays in :attr:`pins`, in memory
    only, until the identity is locked, so an identity whose token was pulled out signs
    again when the token is back.
    """

    unlocked: dict[str, SignerInfo] = field(default_factory=dict)
    locked: dict[str, str] = field(default_factory=dict)  # provider -> reason detail
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    # The PINs (or passphrases) doctors typed for their manual identities.
    pins: dict[str, bytes] = field(default_factory=dict, repr=False)
    # The token is not connected: provider -> detail.
    absent: dict[str, str] = field(default_factory=dict)
    # The key opens but the certificate must not sign now (expired, not yet valid).
    invalid: dict[str, tuple[SignerInfo, IdentityHeld]] = field(default_factory=dict)
    # Refused by a signing worker (revoked): not tried again before this time.
    recheck_at: dict[str, dt.datetime] = field(default_factory=dict)
    # When each identity last signed, and was unlocked (wall-clock seconds), for
    # auto_lock_after.
    last_used: dict[str, float] = field(default_factory=dict)
    unlocked_at: dict[str, float] = field(default_factory=dict)
    manual: set[str] = field(default_factory=set)
    # The token PIN (from a file) last refused, as secret_digest: not tried again.
    refused: dict[str, bytes] = field(default_factory=dict, repr=False)

    def used(self, pc: str, now: float) -> None:
        self.last_used[pc] = now

    def blocked(self) -> list[str]:
        """Provider codes that cannot sign now, for whatever reason."""
        return sorted({*self.locked, *self.absent, *self.invalid})

    def can_sign(self, pc: str | None) -> bool:
        return pc is not None and pc in self.unlocked

    def refuse(self, pc: str, held: IdentityHeld, now: dt.datetime) -> None:
        """A signing worker found that this identity must not sign now: its token is gone
        (``token-absent``: looked for again at the next rescan; a manual identity keeps
        its PIN) or its certificate is revoked (judged again after
        :data:`RECHECK_REFUSED`)."""
        if held.code == "token-absent":
            if self.unlocked.pop(pc, None) is None:
                return
            self.secrets.pop(pc, None)
            self.absent[pc] = str(held.params.get("detail") or "token-absent")
            self.recheck_at.pop(pc, None)
            log.warning("identity-cannot-sign", provider=pc, reason=held.code)
            return
        info = self.unlocked.pop(pc, None) or (self.invalid[pc][0] if pc in self.invalid
                                               else None)
        if info is None:
            return
        self.secrets.pop(pc, None)
        self.invalid[pc] = (info, held)
        self.recheck_at[pc] = now + (RECHECK_REFUSED if held.code == "certificate-revoked"
                                     else dt.timedelta(0))
        log.warning("identity-cannot-sign", provider=pc, reason=held.code)

    def why(self, pc: str) -> tuple[str, str]:
        """(catalog code, short English detail) of an identity that cannot sign."""
        if pc in self.invalid:
            info, held = self.invalid[pc]
            if held.code == "certificate-expired":
                return held.code, f"certificate expired on {info.not_after}"
            if held.code == "certificate-not-yet-valid":
                return held.code, f"certificate valid only from {info.not_before}"
            if held.code == "certificate-key-usage":
                return held.code, f"certificate not made for signing ({info.wrong_key_usage})"
            return held.code, str(held.params.get("detail", held.code))
        if pc in self.absent:
            return "token-absent", self.absent[pc]
        return "identity-locked", self.locked.get(pc, "locked")

    def hold_for(self, pc: str) -> IdentityHeld | None:
        """Why a document of ``pc`` must wait instead of being signed now, or None."""
        if pc in self.invalid:  # expired or not yet valid: never signed with
            return self.invalid[pc][1]
        if pc in self.unlocked:
            return None
        if pc in self.absent:
            return IdentityHeld("token-absent", provider=pc, detail=self.absent[pc])
        return IdentityHeld("identity-locked", provider=pc,
                            detail=self.locked.get(pc, "locked"))

    def report(self, providers: list[str]) -> dict[str, dict[str, Any]]:
        """The "identities" map of the health file (no secrets). ``state`` is unlocked or
        locked (whatever the reason: ``reason`` says which); ``unlock`` says how it is
        unlocked and ``must_act`` who must act now (the doctor: unlock, or plug the
        token in; IT: anything else)."""
        out: dict[str, dict[str, Any]] = {}
        for pc in providers:
            info = self.unlocked.get(pc) or (self.invalid[pc][0] if pc in self.invalid else None)
            ok = pc in self.unlocked
            reason, detail = (None, "") if ok else self.why(pc)
            manual = pc in self.manual
            doctor = reason == "token-absent" or (
                manual and reason == "identity-locked" and pc not in self.pins)
            out[pc] = {"state": "unlocked" if ok else "locked", "reason": reason,
                       "detail": detail,
                       "not_before": (info.not_before or None) if info else None,
                       "not_after": info.not_after if info else None,
                       "unlock": "manual" if manual else "file",
                       "must_act": None if ok else ("doctor" if doctor else "it"),
                       "command": (f"econnector unlock {pc}" if manual and not ok
                                   and pc not in self.pins else None)}
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

    # -- opening: what to try (here), the opening itself (blocking, in a thread), the result

    def to_try(self, identities: Iterable[Identity], now: dt.datetime
               ) -> list[tuple[Identity, bytes | None]]:
        """The identities that cannot sign and are due for another try, each with the PIN
        its doctor gave (manual identities; None: read from its file, or, for a manual
        identity without one, only look whether its token is there)."""
        out = []
        for ident in identities:
            pc = ident.provider_code
            if ident.manual:
                self.manual.add(pc)
            if pc in self.unlocked or self.recheck_at.get(pc, now) > now:
                continue
            self.recheck_at.pop(pc, None)
            out.append((ident, self.pins.get(pc)))
        return out

    def attempt(self, ident: Identity, pin: bytes | None) -> Outcome:
        """Blocking: open one identity (see :meth:`to_try`)."""
        if ident.manual and pin is None:
            return probe_manual(ident)
        return open_identity(ident, pin, self.refused.get(ident.provider_code))

    def settle(self, ident: Identity, outcome: Outcome, now: dt.datetime,
               wall: float | None = None) -> bool:
        """Record what opening ``ident`` gave; True when it can sign now."""
        pc = ident.provider_code
        if ident.manual:
            self.manual.add(pc)
        self.locked.pop(pc, None)
        self.absent.pop(pc, None)
        if isinstance(outcome, Absent):
            self.invalid.pop(pc, None)
            self.absent[pc] = outcome.detail
            return False
        if isinstance(outcome, Locked):
            self.invalid.pop(pc, None)
            self.locked[pc] = outcome.detail[:120] if outcome.no_secret else outcome.detail
            if outcome.wrong_secret and ident.pkcs11 is not None:
                # Never the same wrong PIN on a card again: a manual identity waits for
                # its doctor, a PIN file for IT to change it.
                if self.pins.pop(pc, None) is not None:
                    log.warning("identity-pin-refused", provider=pc)
                self.refused[pc] = outcome.digest
            return False
        self.refused.pop(pc, None)
        held = validity(outcome.info, now)
        if held is not None:
            self.invalid[pc] = (outcome.info, held)
            return False
        self.invalid.pop(pc, None)
        self.unlocked[pc] = outcome.info
        self.secrets[pc] = outcome.secret
        self.unlocked_at[pc] = wall if wall is not None else now.timestamp()
        left = math.floor(days_left(outcome.info, now))
        log.info("identity-unlocked", provider=pc, not_after=outcome.info.not_after,
                 days_left=left)
        if left <= EXPIRY_WARNING_DAYS:
            log.warning("certificate-expires-soon", provider=pc,
                        not_after=outcome.info.not_after, days_left=left)
        return True

    def unlock(self, identities: Iterable[Identity], now: dt.datetime) -> bool:
        """Try every identity that cannot sign (a key that does not open, a token not
        there, a certificate outside its validity); True when one became usable. Blocks:
        the daemon runs :meth:`to_try` / :meth:`attempt` / :meth:`settle` itself, with the
        openings in a thread."""
        changed = False
        for ident, pin in self.to_try(identities, now):
            changed |= self.settle(ident, self.attempt(ident, pin), now)
        self.log_blocked()
        return changed

    def log_blocked(self) -> None:
        for pc in self.blocked():
            reason, detail = self.why(pc)
            log.warning("identity-locked", provider=pc, reason=reason, detail=detail)

    # -- the doctor's unlock and lock (manual identities) ----------------------------------

    def give(self, ident: Identity, outcome: Outcome, now: dt.datetime,
             wall: float | None = None) -> bool:
        """The doctor's PIN opened (or not) the identity: on success it is kept in memory
        for as long as the identity stays unlocked. True when it can sign now."""
        if isinstance(outcome, Opened):
            self.pins[ident.provider_code] = outcome.secret
            self.recheck_at.pop(ident.provider_code, None)
            return self.settle(ident, outcome, now, wall)
        if isinstance(outcome, Absent):
            self.settle(ident, outcome, now, wall)
        # A refused PIN changes nothing: the identity still waits for its doctor.
        return False

    def lock(self, pc: str, detail: str = WAITING_FOR_DOCTOR) -> bool:
        """Forget a manual identity's PIN: it waits for its doctor again. True when it
        could sign or held a PIN (the signing workers must drop it)."""
        had = pc in self.unlocked or pc in self.pins
        for d in (self.unlocked, self.secrets, self.pins, self.absent, self.invalid,
                  self.unlocked_at, self.recheck_at):
            d.pop(pc, None)
        self.locked[pc] = detail
        if had:
            log.info("identity-locked-by-request", provider=pc)
        return had

    def idle(self, identities: Iterable[Identity], now: float) -> list[str]:
        """The unlocked manual identities whose ``auto_lock_after`` ran out at ``now``."""
        return [i.provider_code for i in identities
                if i.manual and i.provider_code in self.unlocked
                and auto_lock_due(i.auto_lock_after, self.unlocked_at.get(i.provider_code),
                                  self.last_used.get(i.provider_code), now)]


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
    key = f"identities[{ident.index}].{'pkcs11' if ident.pkcs11 is not None else 'pkcs12'}"
    held = validity(info, now)
    span = f"valid {_day(info.not_before)} to {_day(info.not_after)}"
    if held is not None and held.code == "certificate-key-usage":
        return (f"{key}: certificate-key-usage: the certificate of {_who(ident)} is not made "
                f"for signatures (key usage: {info.wrong_key_usage}; a signing certificate "
                "has non-repudiation or digital signature); econnector does not sign with "
                "it: install the doctor's signing certificate, not the authentication or "
                "encryption one"), None
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


def _check_manual(ident: Identity, now: dt.datetime) -> tuple[str, str | None, str | None]:
    """A manual identity is locked until its doctor unlocks it: not a problem. Its token
    is looked for and its certificate read without the PIN (a certificate is public on
    a card) and judged like any other; a token not connected is a warning (the daemon
    waits for it)."""
    who, key = _who(ident), f"identities[{ident.index}]"
    how = f"locked until the doctor runs: econnector unlock {ident.provider_code}"
    if ident.pkcs11 is None:
        return f"{who}: {how} ({ident.pkcs12})", None, None
    from . import tokens

    k = ident.pkcs11
    if not k.module.is_file():
        return (f"{who}: CANNOT SIGN", f"{key}.pkcs11.module: {k.module} does not exist; "
                "install the card's PKCS#11 module or correct the path", None)
    info = tokens.read_certificate(ident)
    if info is None:
        if not tokens.token_present(k):
            return (f"{who}: {how}; token {k.token_label!r} is not connected", None,
                    f"{key}.pkcs11.token_label: no token {k.token_label!r} is connected "
                    f"({k.module}); the doctor's documents wait until it is plugged in "
                    "and unlocked")
        return (f"{who}: {how} ({ident.key_source}; certificate not readable without "
                "the PIN)", None, None)
    problem, warning = identity_verdict(ident, info, now)
    state = "CANNOT SIGN" if problem else how
    return (f"{who}: {state} ({ident.key_source}; {info.subject}, valid "
            f"{_day(info.not_before)} to {_day(info.not_after)})", problem, warning)


def check_identity(ident: Identity, now: dt.datetime) -> tuple[str, str | None, str | None]:
    """(line for stdout, problem, warning): can this identity sign now, and if not, why
    (named with its key and the fix)."""
    if ident.manual:
        return _check_manual(ident, now)
    who = _who(ident)
    where = ident.key_source
    key = f"identities[{ident.index}].{'pkcs11' if ident.pkcs11 is not None else 'pkcs12'}"
    opened = open_identity(ident)
    if isinstance(opened, Absent):
        return (f"{who}: LOCKED (token not connected)", None,
                f"{key}.token_label: {who}: {opened.detail} ({where}); its documents wait "
                "until the token is plugged in")
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
               "check the PIN in the file and the token" if "PIN" in detail else
               "check the module, the labels and the token's content" if ident.pkcs11
               else "make it readable by the service user (mode 0600 or 0640)")
        return (f"{who}: LOCKED", f"{key}: {who} cannot sign: {detail} ({where}); {fix}",
                None)
    info = opened.info
    problem, warning = identity_verdict(ident, info, now)
    state = "CANNOT SIGN" if problem else "unlocked"
    return (f"{who}: {state} ({info.subject}, valid "
            f"{_day(info.not_before)} to {_day(info.not_after)})", problem, warning)
