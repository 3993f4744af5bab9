"""``vault_client.preflight`` in process: what check-config tells IT about the vault.

The in-process ``local`` kind and a server that is not a vault (an ASGI app behind
``httpx.ASGITransport``). The cases that need the real vault over real TLS, or the
network stack (a port nobody listens on, a host name that does not resolve), are in
``tests/e2e/test_preflight_vault.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from econnector.vault_client import VaultClient, preflight
from econnector.vault_transport import LOCAL_TOKEN, local_transport
from econnector_testsupport.vault import PROVIDER


def check(client: VaultClient, provider_codes: tuple[str, ...] = ()) -> list[str]:
    async def scenario() -> list[str]:
        async with client:
            return await preflight(client, provider_codes)

    return asyncio.run(scenario())


def test_the_local_kind_is_ready(tmp_path: Path) -> None:
    transport = local_transport(tmp_path / "local-vault", [PROVIDER])
    client = VaultClient("http://local-vault", LOCAL_TOKEN, transport=transport)
    assert check(client, (PROVIDER,)) == []


def test_a_server_that_is_not_a_vault_is_an_unexpected_answer() -> None:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/v1/health", health)])
    client = VaultClient("http://other.test", "t", transport=httpx.ASGITransport(app=app))
    problems = check(client)
    assert len(problems) == 1
    assert "unexpected answer (HTTP 404)" in problems[0]
