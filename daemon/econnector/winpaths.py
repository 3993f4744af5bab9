"""Windows paths for a service: mapped drives, long paths, files another program holds.

Pure functions on path strings (:mod:`ntpath`, so they run and are tested on Linux),
and two small look-ups that only mean something on Windows.

- A drive letter mapped to a share (``Z:``) exists in the session of the user who
  mapped it: a service, in its own session, does not see it. A folder on one must be
  given as its UNC path (``\\\\server\\share\\...``): :func:`mapped_drive_problem`,
  which ``check-config`` calls with :func:`mapped_drives`.
- Windows refuses paths of MAX_PATH (260) characters or more unless prefixed with
  ``\\\\?\\`` (``\\\\?\\UNC\\server\\share\\...`` for a share) or the machine enables
  long paths: :func:`long_path`.
- Opening a file the practice software still holds fails with a sharing violation
  (winerror 32) or a lock violation (33). Python raises PermissionError for both
  (errno EACCES), which the outbox treats as "file-busy": looked at again later, never
  refused. :func:`open_error_kind` says which errors are that, for any API's OSError
  (some carry only ``winerror``).
"""

from __future__ import annotations

import ntpath
import string
import sys
from collections.abc import Mapping

MAX_PATH = 260  # characters, the terminating NUL included
ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
BUSY_WINERRORS = frozenset({ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION})
_DRIVE_REMOTE = 4  # GetDriveTypeW

_LONG = "\\\\?\\"
_LONG_UNC = "\\\\?\\UNC\\"


def drive_letter(path: str) -> str | None:
    """``Z`` for ``Z:\\...`` or ``z:/...`` (upper case); None for UNC or relative paths."""
    drive, _rest = ntpath.splitdrive(path)
    if len(drive) == 2 and drive[1] == ":" and drive[0] in string.ascii_letters:
        return drive[0].upper()
    return None


def mapped_drive_problem(field: str, path: str, mapped: Mapping[str, str]) -> str | None:
    """Why ``path`` (the config's ``field``) cannot work for the service, or None.

    ``mapped``: drive letter -> the UNC path it stands for (:func:`mapped_drives`); a
    letter mapped with no known target maps to "". The answer names the UNC path to
    use when it is known. Pure."""
    letter = drive_letter(path)
    if letter is None or letter not in {k.upper() for k in mapped}:
        return None
    target = {k.upper(): v for k, v in mapped.items()}[letter]
    if target:
        rest = ntpath.splitdrive(path)[1].lstrip("\\/")
        unc = ntpath.join(target.rstrip("\\/"), rest) if rest else target
        use = f"use the UNC path {unc}"
    else:
        use = "use the UNC path \\\\server\\share\\... (net use shows it)"
    return (f"{field}: {path} is on the mapped network drive {letter}:, which the "
            f"econnector service cannot see (a mapping belongs to the session of the user "
            f"who made it); {use}")


def long_path(path: str) -> str:
    """``path`` with the ``\\\\?\\`` prefix when it is MAX_PATH characters or longer
    (``\\\\?\\UNC\\`` for a share), normalized first (the prefix turns off Windows'
    own handling of ``/``, ``.`` and ``..``). A relative path, a short one or one
    already prefixed is returned as it is. Pure."""
    if path.startswith(_LONG) or path.startswith("\\\\.\\"):
        return path
    if len(path) < MAX_PATH - 1 or not ntpath.isabs(path):
        return path
    norm = ntpath.normpath(path)
    if norm.startswith("\\\\"):  # \\server\share\... (normpath keeps the two slashes)
        return _LONG_UNC + norm[2:]
    if drive_letter(norm) is None:  # rooted but no drive (\folder): cannot be prefixed
        return path
    return _LONG + norm


def open_error_kind(e: OSError) -> str:
    """What an error opening an outbox file means: ``"busy"`` (another program holds it,
    or we may not read it yet: retried as file-busy), ``"gone"`` (withdrawn) or
    ``"other"``. Pure."""
    winerror = getattr(e, "winerror", None)
    if winerror in BUSY_WINERRORS or isinstance(e, PermissionError):
        return "busy"
    if isinstance(e, FileNotFoundError) or winerror in (ERROR_FILE_NOT_FOUND,
                                                        ERROR_PATH_NOT_FOUND):
        return "gone"
    return "other"


def mapped_drives() -> dict[str, str]:
    """The drive letters mapped to shares in this session -> their UNC paths ("" when
    Windows does not say); {} elsewhere than Windows. NOT RUN on Windows in this
    project."""
    if sys.platform != "win32":
        return {}
    return _win_mapped_drives()


def _win_mapped_drives() -> dict[str, str]:  # pragma: no cover - Windows only
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        mpr = ctypes.WinDLL("mpr", use_last_error=True)
        out: dict[str, str] = {}
        mask = kernel32.GetLogicalDrives()
        for i, letter in enumerate(string.ascii_uppercase):
            if not mask & (1 << i):
                continue
            if kernel32.GetDriveTypeW(f"{letter}:\\") != _DRIVE_REMOTE:
                continue
            buf = ctypes.create_unicode_buffer(1024)
            size = ctypes.c_ulong(len(buf))
            ok = mpr.WNetGetConnectionW(f"{letter}:", buf, ctypes.byref(size)) == 0
            out[letter] = buf.value if ok else ""
        return out
    return {}


def folder_problems(folders: Mapping[str, str],
                    mapped: Mapping[str, str] | None = None) -> list[str]:
    """``check-config``'s Windows lines for the configured folders (``field -> path``):
    one per folder on a mapped drive. Pure when ``mapped`` is given."""
    drives = mapped_drives() if mapped is None else mapped
    out = []
    for field, path in folders.items():
        problem = mapped_drive_problem(field, path, drives)
        if problem:
            out.append(problem)
    return out
