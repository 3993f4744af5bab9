"""PKCS#11 tokens (smart cards, signing sticks): finding the token, checking the PIN,
and the signer a signing worker holds.

Two sides. The main process only asks questions that end with the session closed:
is the token there (:func:`token_present`), does this PIN open it and what is its
certificate (:func:`verify_pin`), what certificate does it carry without a PIN
(:func:`read_certificate`); it never imports pyHanko. A signing worker keeps one
session per identity, logged in, behind pyHanko's ``PKCS11Signer``
(:func:`worker_signer`); when signing fails because the token went away,
:func:`token_failure` says so and forgets the session, so the next job reopens it.

Tokens are found by label, never by slot number: slots are renumbered when a
reader is plugged in elsewhere. A module is loaded once per process
(python-pkcs11 keeps one ``lib`` per path). Some modules (SoftHSM2) see a token
created or plugged in after ``C_Initialize`` only after a new ``C_Initialize``:
when the label is not found and no session of this process is open on the module,
it is re-initialized and asked again.

Every call blocks (a card can take a second to answer): the daemon calls them in a
thread; one lock serializes this process's use of the modules. The PIN is an
argument, never logged, never in an exception's text.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from cryptography import x509

from .errors import IdentityHeld, causes
from .signer import SignerInfo, describe

if TYPE_CHECKING:
    from .config import Identity, Pkcs11Key

log = structlog.get_logger("econnector.tokens")

# English details (messages/phrases.py translates them: keep them fixed).
NO_TOKEN = "no token with the configured label is connected"
TOKEN_REMOVED = "the token was removed while signing"
MODULE_UNUSABLE = "the PKCS#11 module cannot be loaded"
NO_KEY = "the key or its certificate is not on the token"
WRONG_PIN = "wrong PIN"
WRONG_PIN_FEW = "wrong PIN; only a few tries are left before the card blocks"
WRONG_PIN_FINAL = "wrong PIN; one try is left before the card blocks"
PIN_BLOCKED = "the PIN is blocked after too many wrong tries; IT unblocks it with the PUK"
PIN_EXPIRED = "the PIN has expired; change it with the card's own tool"

# tries_left, in words, as the control channel answers them.
TRIES_FEW, TRIES_ONE, TRIES_NONE = "few", "one", "none"

_LOCK = threading.RLock()
# Worker side: provider code -> (module path, open session) of the signer it holds.
_SESSIONS: dict[str, tuple[str, Any]] = {}


def _p11() -> Any:
    import pkcs11  # a C extension: loaded only where a token is used

    return pkcs11


def _lib(pc: str, key: Pkcs11Key) -> Any:
    """The loaded module (one per path and process); identity-locked if it cannot load."""
    try:
        return _p11().lib(str(key.module))
    except Exception as e:  # PKCS11Error for a missing file or a broken module
        log.error("pkcs11-module-unusable", provider=pc, module=str(key.module),
                  error=type(e).__name__)
        raise IdentityHeld("identity-locked", provider=pc, detail=MODULE_UNUSABLE) from None


def _find(lib: Any, label: str) -> Any | None:
    """The token with this label in a slot, or None."""
    exc = _p11().exceptions
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except (exc.TokenNotPresent, exc.TokenNotRecognised, exc.SlotIDInvalid,
                exc.DeviceError, exc.DeviceRemoved, exc.GeneralError):
            continue  # SoftHSM2 answers GeneralError for a token deleted meanwhile
        if token.label == label:
            return token
    return None


def _find_token(lib: Any, key: Pkcs11Key) -> Any | None:
    """The token, looked for again after a re-initialization when it was not found and
    no session of this process is open on the module (which that would close)."""
    token = _find(lib, key.token_label)
    if token is None and not any(m == str(key.module) for m, _ in _SESSIONS.values()):
        try:
            lib.reinitialize()
        except _p11().exceptions.PKCS11Error:
            return None
        token = _find(lib, key.token_label)
    return token


_ABSENT_NAMES = ("TokenNotPresent", "TokenNotRecognised", "DeviceRemoved", "DeviceError",
                 "SlotIDInvalid", "SessionClosed", "SessionHandleInvalid", "UserNotLoggedIn",
                 "ObjectHandleInvalid", "KeyHandleInvalid", "NoSuchToken")


def _present(pc: str, key: Pkcs11Key) -> tuple[Any, Any]:
    """(module, token) of this identity; ``token-absent`` when no token has its label.
    Call with :data:`_LOCK` held."""
    lib = _lib(pc, key)
    try:
        token = _find_token(lib, key)
    except _absent_types():
        token = None
    if token is None:
        raise IdentityHeld("token-absent", provider=pc, detail=NO_TOKEN)
    return lib, token


def _absent_types() -> tuple[type[BaseException], ...]:
    """The python-pkcs11 errors that mean the token (or our session on it) is gone: the
    card or stick was pulled out, the reader reset, or a session left from before the
    token came back."""
    exc = _p11().exceptions
    return tuple(getattr(exc, n) for n in _ABSENT_NAMES if hasattr(exc, n))


@dataclass(frozen=True, slots=True)
class PinRefused:
    """Why a PIN did not open the token: the detail (a phrase) and tries_left in words
    (None when the token does not tell)."""

    detail: str
    tries_left: str | None


def pin_refusal(flags: int, locked: bool = False) -> PinRefused:
    """What to say after a refused PIN, from the token's flags after the attempt
    (CKF_USER_PIN_COUNT_LOW / FINAL_TRY / LOCKED). Pure."""
    tf = _p11().TokenFlag
    if locked or flags & tf.USER_PIN_LOCKED:
        return PinRefused(PIN_BLOCKED, TRIES_NONE)
    if flags & tf.USER_PIN_FINAL_TRY:
        return PinRefused(WRONG_PIN_FINAL, TRIES_ONE)
    if flags & tf.USER_PIN_COUNT_LOW:
        return PinRefused(WRONG_PIN_FEW, TRIES_FEW)
    return PinRefused(WRONG_PIN, None)


class WrongPin(IdentityHeld):
    """identity-locked because the PIN was refused; ``tries_left`` in words or None."""

    def __init__(self, provider: str, refused: PinRefused) -> None:
        super().__init__("identity-locked", provider=provider, detail=refused.detail)
        self.tries_left = refused.tries_left


def _login(pc: str, lib: Any, token: Any, key: Pkcs11Key, pin: bytes, *,
           main: bool) -> Any:
    """A session on ``token`` logged in with ``pin``; WrongPin or token-absent if not."""
    exc = _p11().exceptions
    try:
        text = pin.decode("utf-8")
    except UnicodeDecodeError:
        raise WrongPin(pc, PinRefused(WRONG_PIN, None)) from None
    try:
        return token.open(user_pin=text)
    except exc.UserAlreadyLoggedIn:
        return token.open()  # another session of this process logged in: it is shared
    except (exc.PinIncorrect, exc.PinInvalid, exc.PinLenRange, exc.PinLocked,
            exc.PinExpired) as e:
        failed: BaseException = e
    except _absent_types():
        raise IdentityHeld("token-absent", provider=pc, detail=NO_TOKEN) from None
    # C_OpenSession succeeded before C_Login failed, and python-pkcs11 cannot close that
    # session: in the main process (no other session open) a re-initialization does.
    if main:
        with contextlib.suppress(exc.PKCS11Error):
            lib.reinitialize()
    if isinstance(failed, exc.PinExpired):
        raise IdentityHeld("identity-locked", provider=pc, detail=PIN_EXPIRED) from None
    again = _find(lib, key.token_label)  # the flags after this attempt
    flags = int(again.flags) if again is not None else 0
    raise WrongPin(pc, pin_refusal(flags, locked=isinstance(failed, exc.PinLocked))) from None


def _query(key: Pkcs11Key, cls: Any, label: str | None) -> dict[Any, Any]:
    attr = _p11().Attribute
    q: dict[Any, Any] = {attr.CLASS: cls}
    if label is not None:
        q[attr.LABEL] = label
    if key.key_id is not None and (label is None or cls != _p11().ObjectClass.CERTIFICATE
                                   or key.cert_label is None):
        q[attr.ID] = key.key_id
    return q


def _certificate(session: Any, key: Pkcs11Key) -> x509.Certificate | None:
    """The signer's certificate: by cert_label, else key_label, else key_id."""
    p11 = _p11()
    label = key.cert_label if key.cert_label is not None else key.key_label
    found = list(session.get_objects(_query(key, p11.ObjectClass.CERTIFICATE, label)))
    if len(found) != 1:
        return None
    return x509.load_der_x509_certificate(found[0][p11.Attribute.VALUE])


def _has_key(session: Any, key: Pkcs11Key) -> bool:
    p11 = _p11()
    q = _query(key, p11.ObjectClass.PRIVATE_KEY, key.key_label)
    return len(list(session.get_objects(q))) == 1


def _close(session: Any) -> None:
    with contextlib.suppress(Exception):  # the token may be gone: nothing left to close
        session.close()


# -- main process -------------------------------------------------------------------------


def verify_pin(ident: Identity, pin: bytes) -> SignerInfo:
    """Does ``pin`` open the identity's token, and what is its certificate? The session
    is closed (logged out) before returning. Raises IdentityHeld: ``token-absent`` when
    no token has the label, :class:`WrongPin` (identity-locked, tries left if the token
    tells), ``identity-locked`` for a module that does not load or a missing key."""
    key, pc = ident.pkcs11, ident.provider_code
    assert key is not None
    with _LOCK:
        lib, token = _present(pc, key)
        session = _login(pc, lib, token, key, pin, main=True)
        try:
            cert = _certificate(session, key)
            ok = cert is not None and _has_key(session, key)
        except _absent_types():
            raise IdentityHeld("token-absent", provider=pc, detail=NO_TOKEN) from None
        finally:
            _close(session)
    if not ok or cert is None:
        raise IdentityHeld("identity-locked", provider=pc, detail=NO_KEY)
    return describe(pc, cert)


def read_certificate(ident: Identity) -> SignerInfo | None:
    """The identity's certificate read without a PIN (certificates are public objects
    on a card), or None when the token is absent or does not show it."""
    key = ident.pkcs11
    assert key is not None
    with _LOCK:
        try:
            lib = _lib(ident.provider_code, key)
            token = _find_token(lib, key)
            if token is None:
                return None
            session = token.open()
        except IdentityHeld:
            return None
        except _absent_types():
            return None
        try:
            cert = _certificate(session, key)
        except _p11().exceptions.PKCS11Error:
            cert = None
        finally:
            _close(session)
    return describe(ident.provider_code, cert) if cert is not None else None


def token_present(key: Pkcs11Key) -> bool:
    """Is a token with this label connected? (slot list only, no login; cheap)"""
    with _LOCK:
        try:
            return _find_token(_p11().lib(str(key.module)), key) is not None
        except Exception:  # a module that does not load has no token either
            return False


# -- signing workers ----------------------------------------------------------------------


def worker_signer(provider_code: str, key: Pkcs11Key, pin: bytes) -> Any:
    """pyHanko's signer over a session on the token, logged in with ``pin`` and kept for
    this worker's life (one per identity). Raises IdentityHeld as :func:`verify_pin`."""
    from pyhanko.sign.pkcs11 import PKCS11Signer

    pc = provider_code
    with _LOCK:
        forget(pc)
        lib, token = _present(pc, key)
        session = _login(pc, lib, token, key, pin, main=False)
        signer = PKCS11Signer(session, cert_label=key.cert_label, key_label=key.key_label,
                              key_id=key.key_id, other_certs_to_pull=())
        try:
            signer.signing_cert  # noqa: B018 -- loads the certificate and key handle now
        except _absent_types():
            _close(session)
            raise IdentityHeld("token-absent", provider=pc, detail=NO_TOKEN) from None
        except Exception:  # pyHanko's PKCS11Error: no such key or certificate
            _close(session)
            raise IdentityHeld("identity-locked", provider=pc, detail=NO_KEY) from None
        _SESSIONS[pc] = (str(key.module), session)
    return signer


def forget(provider_code: str) -> None:
    """Close the worker's session of this identity (if any): the next job reopens it."""
    with _LOCK:
        held = _SESSIONS.pop(provider_code, None)
        if held is not None:
            _close(held[1])


def token_failure(provider_code: str, exc: BaseException) -> IdentityHeld | None:
    """What an exception raised while signing with a token signer means: ``token-absent``
    when the token (or our session on it) is gone (python-pkcs11's TokenNotPresent,
    DeviceRemoved, DeviceError, SessionClosed, SessionHandleInvalid, UserNotLoggedIn,
    Object/KeyHandleInvalid, ..., raised as they are by ``PKCS11Signer.async_sign_raw``,
    or as the cause of a pyHanko SigningError); the session is then forgotten, so the
    next job reopens it. None for anything else."""
    absent = _absent_types()
    for e in causes(exc):
        if isinstance(e, absent):
            forget(provider_code)
            log.warning("token-gone", provider=provider_code, error=type(e).__name__)
            return IdentityHeld("token-absent", provider=provider_code, detail=TOKEN_REMOVED)
    return None
