"""Secrets hygiene for the processes that hold signing keys and passphrases.

Three things, each closing one way a secret leaves the process:

- **No core dumps, not dumpable.** A core file or a ``ptrace``/``/proc/<pid>/mem``
  read by another process of the same user would carry the unlocked keys and
  passphrases. :func:`harden_process` sets ``RLIMIT_CORE`` to 0 and, on Linux,
  ``prctl(PR_SET_DUMPABLE, 0)``; a non-dumpable process's ``/proc/<pid>`` files
  belong to root, so even the service user cannot read its ``environ`` or
  ``mem``. ``execve`` resets the dumpable flag, so every worker calls it itself
  at the start of ``serve()`` (:func:`harden_worker`); the main process calls it
  in ``econnector run``.
- **Children get an allow-listed environment** (:func:`child_env`): a
  ``passphrase_env``/``token_env`` variable never reaches a signing worker or
  any other subprocess, where ``/proc/<pid>/environ`` would show it.
- **Secret files readable by others are refused** (:func:`exposed_secret_files`),
  by ``check-config`` and at start, with the stable code ``secret-file-exposed``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import render

try:  # POSIX; Windows has no resource limits of this kind (winservice)
    import resource
except ImportError:  # pragma: no cover - Windows (not run here)
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .config import Config

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1


def _prctl(option: int, arg: int = 0) -> int | None:
    """``prctl(2)`` through libc; None where there is none (not Linux, no libc)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    rc = int(fn(option, arg, 0, 0, 0))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def dumpable() -> bool | None:
    """The process's dumpable flag (Linux), None elsewhere."""
    rc = _prctl(PR_GET_DUMPABLE)
    return None if rc is None else rc != 0


def harden_process() -> None:
    """No core file, not dumpable (Linux); for any process that holds secrets.

    Idempotent and cheap. A no-op where the platform has neither (Windows).
    """
    with contextlib.suppress(ValueError, OSError, AttributeError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _prctl(PR_SET_DUMPABLE, 0)


def die_with_parent(parent: int | None) -> None:
    """A child that must not outlive ``parent`` (a signing worker): SIGKILL when it
    dies (Linux), and an exit now if it is already gone.

    Without this, a worker whose daemon was killed finishes the job it holds and
    renames signed bytes into ``work/signed/`` after the next daemon has delivered
    and archived that document: a file no one owns (seen under load in the chaos
    test). The death signal follows the thread that started the child; the pool
    spawns its workers from the event loop's thread, which lives as long as the
    daemon. Elsewhere (Windows) :func:`parent_gone` is checked before each rename.
    """
    if parent is None:
        return
    with contextlib.suppress(OSError):
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if parent_gone(parent):  # died before the signal was armed
        os._exit(0)


def parent_gone(parent: int | None) -> bool:
    """True when the process that started us has died (we were re-parented)."""
    return parent is not None and os.getppid() != parent


def private_umask() -> None:
    """umask 0077: whatever is not given a mode on purpose (:mod:`.filemodes`) is private.

    SQLite's database, -wal and -shm files, the workers' signed PDFs and the
    local vault are then 0600/0700 whatever umask the service was started with.
    """
    if os.name == "posix":
        os.umask(0o077)


def harden_worker() -> None:
    """First thing a signing worker does (``execve`` reset what the parent set).

    Also a private umask: the worker writes signed PDFs into ``work/signed/``.
    """
    harden_process()
    private_umask()


# -- the environment of child processes -----------------------------------------------
#
# An allow-list, not a deny-list: the daemon cannot know every variable a site
# uses for secrets (a drop-in may set SOME_PIN for another tool), so children get
# only what a Python process and the libraries it loads need to start and behave:
#   PATH, HOME, LANG, LANGUAGE, LC_*, TZ      locate tools, text encoding, time zone
#   TMPDIR, TMP, TEMP                          where tempfile writes (PrivateTmp)
#   PYTHON*                                    PYTHONPATH for a source install,
#                                              hash seed, unbuffered stdio, ...
#   LD_LIBRARY_PATH                            a Python built against private libs
#   SOFTHSM2_CONF                              PKCS#11 software tokens (tests, pilots)
#   SSL_CERT_FILE, SSL_CERT_DIR                trust for a future HTTPS timestamp server
#   ECONNECTOR_CRASH_AT, ECONNECTOR_DEBUG      test crash points, tracebacks
#   COVERAGE_PROCESS_START                     coverage of subprocesses in tests
#   SYSTEMROOT, WINDIR, COMSPEC, PATHEXT, ...  Windows: Python cannot even seed its
#                                              random generator without SYSTEMROOT
# Not passed: NOTIFY_SOCKET and CREDENTIALS_DIRECTORY (only the main process talks
# to systemd and reads credentials), and every other variable. On top of the
# allow-list, the names the config gives as secret sources (``passphrase_env``,
# ``token_env``) are always dropped, even if one matched a pattern above.

ALLOWED_NAMES = frozenset({
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP", "LD_LIBRARY_PATH",
    "SOFTHSM2_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "ECONNECTOR_CRASH_AT",
    "ECONNECTOR_DEBUG", "COVERAGE_PROCESS_START",
    # Windows
    "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "SYSTEMDRIVE", "USERPROFILE",
    "APPDATA", "LOCALAPPDATA", "PROGRAMDATA", "NUMBER_OF_PROCESSORS",
    "PROCESSOR_ARCHITECTURE",
})
ALLOWED_PREFIXES = ("LC_", "PYTHON")

_forbidden: set[str] = set()


def forbid_env(names: Iterable[str | None]) -> None:
    """Names that never reach a child, whatever the allow-list says (set at start)."""
    _forbidden.update(n.upper() for n in names if n)


def secret_env_names(cfg: Config) -> list[str]:
    """The variables the config names as secret sources. Credentials
    (``passphrase_credential``, ``token_credential``) are files, not variables:
    their folder, ``$CREDENTIALS_DIRECTORY``, is left out of every child's
    environment by the allow-list already."""
    names = [i.passphrase_env for i in cfg.identities if i.passphrase_env]
    if cfg.vault.token_env:
        names.append(cfg.vault.token_env)
    return names


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: the allow-list, minus the secret names."""
    src = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name, value in src.items():
        key = name.upper()  # Windows names are case-insensitive
        if key in _forbidden:
            continue
        if key in ALLOWED_NAMES or key.startswith(ALLOWED_PREFIXES):
            out[name] = value
    return out


# -- secret files ------------------------------------------------------------------------
#
# Refused: any permission for "other" (mode & 0o007) and group write (0o020).
# Allowed: group read (0o040), so a file owned by root with group econnector and
# mode 0640 works, as /etc/ssl/private does with ssl-cert: the service reads it and
# cannot change it. Group write is refused because a group member could replace a
# token or a PKCS#12 (another signing key) without being able to read it first.

EXPOSED_BITS = 0o027


def _check_file(path: Path, what: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # a missing file is reported elsewhere (locked identity, no token)
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & EXPOSED_BITS:
        return None
    mode = stat.S_IMODE(st.st_mode)
    how = []
    if mode & 0o004:
        how.append("readable by all users")
    if mode & 0o002:
        how.append("writable by all users")
    if mode & 0o001:
        how.append("executable by all users")
    if mode & 0o020:
        how.append("writable by its group")
    message, hint = render("secret-file-exposed", {
        "what": what, "path": str(path), "mode": f"{mode:04o}", "how": " and ".join(how),
    })
    return f"secret-file-exposed: {message} {hint}"


def exposed_secret_files(cfg: Config) -> list[str]:
    """One line per secret file that others may read or change (POSIX only).

    Credentials (``LoadCredential=``) are not checked here: systemd copies them
    into a private, non-swappable folder only this service can read (0400 files,
    ``$CREDENTIALS_DIRECTORY``); the source file's mode is root's business."""
    if os.name != "posix":
        return []
    checks: list[tuple[Path, str]] = []
    for i, ident in enumerate(cfg.identities):
        if ident.pkcs12 is not None:
            checks.append((ident.pkcs12, f"identities[{i}].pkcs12"))
        if ident.passphrase_file is not None:
            checks.append((ident.passphrase_file, f"identities[{i}].passphrase_file"))
    if cfg.vault.kind == "http" and cfg.vault.token_file is not None:
        checks.append((cfg.vault.token_file, "vault.token_file"))
    return [p for path, what in checks if (p := _check_file(path, what))]
