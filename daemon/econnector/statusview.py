"""What ``econnector status`` says, as text in fr, de or en: the daemon's health (from
:mod:`.health`) and the documents. Pure functions of what was read; codes, stems and
document numbers are shown as they are (for support)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from .errors import CATALOG, render
from .messages import CLI_REASONS, CLI_STATE_NAMES, CLI_TEXTS
from .receipts import iso, local_time
from .signer import EXPIRY_WARNING_DAYS


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def doc_json(d: Any) -> dict[str, Any]:
    return {"id": d.id, "file": d.stem, "document_id": d.document_id, "state": d.state.value,
            "reason": d.reason, "attempts": d.attempts, "updated_at": _iso(d.updated_at),
            "next_attempt_at": _iso(d.next_attempt_at),
            "vault_document_id": (d.delivery or {}).get("vault_document_id"),
            "opened_at": (d.followup or {}).get("opened_at")}


def _say(key: str, lang: str, **params: Any) -> str:
    """One frame of ``status`` (messages.CLI_TEXTS) in ``lang``."""
    return CLI_TEXTS.get(lang, CLI_TEXTS["en"])[key].format(**params)


def _when(stamp: Any, lang: str) -> str:
    """An ISO time as people read it: Luxembourg local time with the offset."""
    return local_time(stamp, lang) if isinstance(stamp, str) and stamp else "-"


def _catalog_line(key: str, code: str, params: dict[str, Any], lang: str, **extra: Any) -> str:
    """A ``status`` line that carries the catalog message and hint of ``code``."""
    # A code this version does not know (a newer daemon's): said as it is, not misrendered.
    message, hint = render(code, params, lang) if code in CATALOG else ("", "")
    return _say(key, lang, code=code, message=message, hint=hint, **extra).rstrip()


def _identity_line(pc: str, ident: dict[str, Any], lang: str) -> str:
    """Why a doctor cannot sign, in the catalog's words; certificate dates in local time."""
    code = str(ident.get("reason") or "identity-locked")
    params = {"provider": pc, "detail": ident.get("detail") or "locked",
              "not_after": _when(ident.get("not_after"), lang),
              "not_before": _when(ident.get("not_before"), lang)}
    return _catalog_line("blocked", code, params, lang)


def _vault_line(vault: dict[str, Any], lang: str) -> str | None:
    """What the vault gate says (None while it is open)."""
    state = vault.get("state")
    default = {"unauthorized": "vault-unauthorized", "tls": "vault-tls",
               "outage": "vault-unavailable"}.get(str(state))
    if default is None:
        return None
    code = str(vault.get("reason") or default)
    params = vault.get("params")
    params = params if isinstance(params, dict) else {}
    if state == "outage":
        return _catalog_line("outage", code, params, lang,
                             when=_when(vault.get("next_probe_at"), lang))
    return _catalog_line("paused", code, params, lang)


def _expiry_line(pc: str, ident: dict[str, Any], lang: str, now: dt.datetime) -> str | None:
    """Days to the certificate's expiry, a warning from ``EXPIRY_WARNING_DAYS`` before."""
    until = ident.get("not_after")
    if not isinstance(until, str) or not until:
        return None
    try:
        end = dt.datetime.fromisoformat(until)
    except ValueError:
        return None
    days = math.ceil((end - now).total_seconds() / 86400)
    key = "cert-expiring" if days <= EXPIRY_WARNING_DAYS else "cert-valid"
    return _say(key, lang, provider=pc, until=_when(until, lang)[:10], days=days)


def health_lines(health: dict[str, Any], pid: int | None, lang: str = "en",
                 now: dt.datetime | None = None) -> list[str]:
    """What ``status`` says about the daemon itself, from its health file, in ``lang``
    (codes kept for support). Pure: ``now`` judges the certificates' days left."""
    out = [_say("running", lang, pid=pid) if pid else _say("not-running", lang)]
    if not pid:
        return out
    if health.get("storage", {}).get("paused"):
        out.append(_say("storage-paused", lang, reason=health["storage"].get("reason")))
    vault = health.get("vault")
    line = _vault_line(vault, lang) if isinstance(vault, dict) else None
    out += [line] if line else []
    identities = health.get("identities")
    if isinstance(identities, dict):
        for pc, ident in sorted(identities.items()):
            if isinstance(ident, dict) and ident.get("state") == "locked":
                out.append(_identity_line(pc, ident, lang))
            elif isinstance(ident, dict) and now is not None:
                line = _expiry_line(pc, ident, lang, now)
                out += [line] if line else []
    elif health.get("identities_locked"):  # a health file of an older daemon
        out.append(_say("blocked-list", lang, providers=", ".join(health["identities_locked"])))
    folders = health.get("folders")
    for name in ("outbox", "inbox"):
        f = folders.get(name) if isinstance(folders, dict) else None
        if isinstance(f, dict) and f.get("ok") is False:
            out.append(_catalog_line("folder", str(f.get("reason") or f"{name}-missing"),
                                     {"path": f.get("path")}, lang))
        elif f is None and health.get(f"{name}_missing"):
            out.append(_catalog_line("folder", f"{name}-missing", {}, lang))
    return out


def document_lines(counts: dict[str, int], waiting: list[Any], rows: list[Any],
                   lang: str, opened: int | None = None) -> list[str]:
    """The documents part of ``status`` in ``lang``: counts by state (in the order a
    document goes through them), what waits and why, the latest. Stems, document
    numbers and codes as they are. Pure."""
    names = CLI_STATE_NAMES.get(lang, CLI_STATE_NAMES["en"])
    reasons = CLI_REASONS.get(lang, CLI_REASONS["en"])
    width = max(len(n) for n in names.values())
    order = {s: i for i, s in enumerate(names)}
    by_state = sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    out = [_say("counts", lang, counts=", ".join(f"{names.get(k, k)} {v}" for k, v in by_state)
                or _say("none-yet", lang))]
    if opened is not None and counts.get("delivered"):
        out.append(_say("opened", lang, count=opened))
    if waiting:
        out.append(_say("waiting", lang))
        for d in waiting:
            why = d.reason or "-"
            if d.reason in reasons:
                why += f": {reasons[d.reason]}"
            if d.next_attempt_at:
                why += _say("next-try", lang, when=_when(_iso(d.next_attempt_at), lang))
            out.append(f"  {names.get(d.state.value, d.state.value):<{width}} {d.stem:<40} {why}")
    out.append(_say("latest", lang))
    for d in rows:
        out.append(f"  {_when(_iso(d.updated_at), lang)}  "
                   f"{names.get(d.state.value, d.state.value):<{width}} {d.stem:<40} "
                   f"{d.document_id or '-':<20} {d.reason or _opened(d, lang)}".rstrip())
    return out


def _opened(d: Any, lang: str) -> str:
    at = (getattr(d, "followup", None) or {}).get("opened_at")
    return _say("opened-mark", lang, when=_when(at, lang)) if at else ""
