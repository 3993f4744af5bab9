"""Reading secrets at the moment they are needed: files, variables, systemd credentials.

The config names where a key passphrase or the vault token is (never the secret
itself); these read it, so a secret provided after start is found, and every
failure is one :class:`SecretUnavailable` naming the file, variable or
credential (the daemon tries again later).
"""

from __future__ import annotations

import os
from pathlib import Path


class SecretUnavailable(OSError):
    """A passphrase or token cannot be read now; the text names the variable,
    file or credential (it may appear later: the daemon tries again)."""


CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


def read_credential(name: str, key: str) -> bytes:
    """A systemd credential (``LoadCredential=NAME:FILE``): ``$CREDENTIALS_DIRECTORY/NAME``.

    systemd passes credentials as files in a private folder it names in this
    variable, never as environment variables."""
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        raise SecretUnavailable(
            f"{key}: ${CREDENTIALS_ENV} is not set, so the credential {name} cannot be "
            f"read (add LoadCredential={name}:FILE to the unit)")
    path = Path(folder) / name
    try:
        return path.read_bytes()
    except OSError as e:
        raise SecretUnavailable(
            f"{key}: cannot read the credential {path} ({e.strerror or e}; "
            f"LoadCredential={name}:FILE in the unit)") from None


def read_env(name: str, key: str) -> bytes:
    """An environment variable's value (``passphrase_env``, ``token_env``)."""
    value = os.environ.get(name)
    if value is None:
        raise SecretUnavailable(f"{key}: the environment variable {name} is not set")
    return value.encode("utf-8")


def read_secret_file(path: Path, key: str) -> bytes:
    """A secret file's bytes (``passphrase_file``, ``token_file``)."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise SecretUnavailable(
            f"{key}: cannot read the file {path} ({e.strerror or e})") from None
