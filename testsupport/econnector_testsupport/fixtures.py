"""The fixtures that many test modules need alike, as a pytest plugin.

The root ``conftest.py`` loads it (``pytest_plugins``). Each fixture is module-scoped:
making a signing identity or a TLS chain costs key generation, and no test changes
them. A module that needs different ones defines its own fixture of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from econnector.testid import TestIdentity
from econnector_testsupport.daemon import SIDECAR_MATRICULE, make_identity
from econnector_testsupport.signing import load_worker
from econnector_testsupport.vault import (
    TlsFiles,
    VaultProcess,
    make_tls,
    running_vault,
    signed_pdf,
    unsigned_pdf,
)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> TestIdentity:
    """A TEST signing identity (PKCS#12 and passphrase file) for :data:`daemon.PROVIDER`."""
    return make_identity(tmp_path_factory.mktemp("identity"))


@pytest.fixture(scope="module")
def pdf_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PDFs on disk for uploads: ``signed`` and ``other`` (signed, different content)
    and ``unsigned``."""
    folder = tmp_path_factory.mktemp("pdfs")
    out = {
        "signed": signed_pdf("client test"),
        "other": signed_pdf("client other"),
        "unsigned": unsigned_pdf(),
    }
    paths = {}
    for name, data in out.items():
        paths[name] = folder / f"{name}.pdf"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def worker_signer(identity: TestIdentity) -> None:
    """This process signs as a signing worker would, with :func:`identity`
    (:mod:`econnector_testsupport.signing`)."""
    load_worker(identity)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 (``running_vault(tls=...)``)."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_vault(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[VaultProcess]:
    """The real vault over TLS on loopback (with :func:`tls`); the patient of
    :func:`daemon.sidecar` is green (wants the vault)."""
    folder = tmp_path_factory.mktemp("tls-vault")
    with running_vault(folder, tls=tls, patients={SIDECAR_MATRICULE: "green"}) as vp:
        yield vp
