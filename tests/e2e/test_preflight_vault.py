"""``vault_client.preflight`` against the real vault: what check-config tells IT.

Every case runs the real reference vault over real TLS on loopback, with the
mistakes IT actually makes: the vault not running, a CA bundle from another PKI, a
URL whose host the certificate does not name, a wrong token, a token bound to other
provider codes. The in-process cases are in ``tests/unit/test_preflight.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from econnector.vault_client import VaultClient, preflight
from econnector_testsupport.vault import (
    PROVIDER,
    TlsFiles,
    VaultProcess,
    free_port,
    make_tls,
    running_vault,
)

OTHER_PROVIDER = "90812200"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[VaultProcess]:
    tokens = {"good-token": [PROVIDER]}
    with running_vault(
        tmp_path_factory.mktemp("preflight-vault"), tls=tls, token="good-token", tokens=tokens
    ) as vp:
        yield vp


def check(client: VaultClient, provider_codes: tuple[str, ...] = ()) -> list[str]:
    async def scenario() -> list[str]:
        async with client:
            return await preflight(client, provider_codes)

    return asyncio.run(scenario())


def test_all_fine_is_an_empty_list(vault: VaultProcess, tls: TlsFiles) -> None:
    client = VaultClient(vault.base_url, vault.token, ca_bundle=str(tls.ca_bundle))
    assert check(client, (PROVIDER,)) == []


def test_vault_down_says_unreachable_with_the_url(tls: TlsFiles) -> None:
    url = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    problems = check(VaultClient(url, "good-token", ca_bundle=str(tls.ca_bundle)))
    assert len(problems) == 1
    assert url in problems[0]
    assert "unreachable" in problems[0] and "connection refused" in problems[0]


def test_unknown_host_says_host_name_not_found() -> None:
    problems = check(VaultClient("https://vault.invalid:8443", "t"))
    assert len(problems) == 1
    assert "https://vault.invalid:8443" in problems[0]
    assert "host name not found" in problems[0] and "vault.url" in problems[0]


def test_wrong_ca_bundle_says_tls_verification_failed(
    vault: VaultProcess, tmp_path: Path
) -> None:
    other = make_tls(tmp_path / "other-pki")
    problems = check(VaultClient(vault.base_url, vault.token, ca_bundle=str(other.ca_bundle)))
    assert len(problems) == 1
    assert "TLS verification failed" in problems[0] and vault.base_url in problems[0]
    assert "certificate not trusted (check vault.ca_bundle)" in problems[0]


def test_no_ca_bundle_and_a_private_ca_says_not_trusted(vault: VaultProcess) -> None:
    problems = check(VaultClient(vault.base_url, vault.token))  # the system store only
    assert len(problems) == 1 and "certificate not trusted" in problems[0]


def test_host_the_certificate_does_not_name_says_name_mismatch(
    vault: VaultProcess, tls: TlsFiles
) -> None:
    # The certificate names 127.0.0.1 only; 2130706433 (127.0.0.1 written as one number)
    # reaches the same server, and is resolved without /etc/hosts (a bare chroot has none).
    url = vault.base_url.replace("127.0.0.1", "2130706433")
    problems = check(VaultClient(url, vault.token, ca_bundle=str(tls.ca_bundle)))
    assert len(problems) == 1
    assert "TLS verification failed" in problems[0] and "host name mismatch" in problems[0]


def test_plain_http_to_the_tls_port_says_so(vault: VaultProcess) -> None:
    url = vault.base_url.replace("https://", "http://")
    problems = check(VaultClient(url, vault.token))
    assert len(problems) == 1 and url in problems[0]
    assert "did not answer plain HTTP" in problems[0] and "https://" in problems[0]


def test_wrong_token_says_token_refused(vault: VaultProcess, tls: TlsFiles) -> None:
    problems = check(VaultClient(vault.base_url, "wrong-token", ca_bundle=str(tls.ca_bundle)))
    assert len(problems) == 1
    assert "refused the token" in problems[0] and "HTTP 401" in problems[0]
    assert "wrong-token" not in problems[0]


def test_token_for_other_provider_codes_names_the_missing_code(
    vault: VaultProcess, tls: TlsFiles
) -> None:
    client = VaultClient(vault.base_url, vault.token, ca_bundle=str(tls.ca_bundle))
    problems = check(client, (PROVIDER, OTHER_PROVIDER))
    assert len(problems) == 1
    assert OTHER_PROVIDER in problems[0] and PROVIDER not in problems[0]


def test_a_url_with_a_path_says_health_answered_404(vault: VaultProcess, tls: TlsFiles) -> None:
    client = VaultClient(vault.base_url + "/v1", vault.token, ca_bundle=str(tls.ca_bundle))
    problems = check(client)
    assert len(problems) == 1
    assert "/v1/health answered HTTP 404 not-found" in problems[0]
