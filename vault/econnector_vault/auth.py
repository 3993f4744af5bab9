"""Who may call the vault: bearer tokens, each bound to the provider codes it acts for.

Uploads for another provider are 403, another provider's documents are 404
(their ids are not even confirmed), billing of another provider is 403, and
idempotency keys are scoped per provider code by the store, so no practice can
squat another's. Tokens are compared in constant time, every one of them, so an
answer's timing does not tell which token was close.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response

from econnector_vault.metadata import is_provider_code
from econnector_vault.problems import unauthorized

__all__ = ["Grants", "Handler", "authenticated", "grants_from", "token_accepted", "token_providers"]

Grants = Sequence[tuple[bytes, frozenset[str]]]
Handler = Callable[[Request], Awaitable[Response]]


def grants_from(tokens: Mapping[str, Collection[str]]) -> list[tuple[bytes, frozenset[str]]]:
    """Each token as bytes with its provider codes; ValueError when one has none or bad ones."""
    if not tokens:
        raise ValueError("at least one bearer token is required")
    grants: list[tuple[bytes, frozenset[str]]] = []
    for token, codes in tokens.items():
        providers = frozenset(codes)
        if not providers or not all(is_provider_code(c) for c in providers):
            raise ValueError("every token needs one or more 8-digit provider codes")
        grants.append((token.encode("utf-8", "surrogateescape"), providers))
    return grants


def _bearer(header: str | None) -> bytes | None:
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential.encode("utf-8", "surrogateescape")


def token_accepted(header: str | None, tokens: Iterable[bytes]) -> bool:
    """True when ``header`` is ``Bearer <t>`` for a configured token (constant-time compare)."""
    candidate = _bearer(header)
    if candidate is None:
        return False
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(token, candidate)
    return ok


def token_providers(header: str | None, grants: Grants) -> frozenset[str] | None:
    """The provider codes the bearer token in ``header`` may act for; None if unknown."""
    candidate = _bearer(header)
    if candidate is None:
        return None
    found: frozenset[str] | None = None
    for token, providers in grants:
        if hmac.compare_digest(token, candidate):
            found = providers
    return found


def authenticated(grants: Grants, handler: Handler) -> Handler:
    """``handler`` behind the token check; it finds its providers in ``request.state.providers``."""

    async def guarded(request: Request) -> Response:
        header = request.headers.get("authorization")
        providers = token_providers(header, grants)
        if providers is None:
            return unauthorized(header)
        request.state.providers = providers
        return await handler(request)

    return guarded
