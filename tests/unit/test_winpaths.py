"""Windows paths for the service (issue 13, point 2.3): mapped drives refused with the UNC
path to use, the long-path prefix, and a file another program holds read as busy. Pure
functions, run here on Linux; the Windows look-up (mapped_drives) is not."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from econnector import safeopen, winpaths
from econnector.intake import BUSY, ProbeJob, probe_pairs


def test_a_folder_on_a_mapped_drive_is_refused_with_its_unc_path() -> None:
    mapped = {"z": "\\\\nas01\\praxis"}
    problem = winpaths.mapped_drive_problem("folders.outbox", "Z:\\Ausgang\\econnector",
                                            mapped)
    assert problem is not None
    assert problem.startswith("folders.outbox: Z:\\Ausgang\\econnector is on the mapped "
                              "network drive Z:")
    assert problem.endswith("use the UNC path \\\\nas01\\praxis\\Ausgang\\econnector")
    # A letter Windows cannot name the target of: the generic advice.
    problem = winpaths.mapped_drive_problem("folders.inbox", "y:/in", {"Y": ""})
    assert problem is not None and "\\\\server\\share\\..." in problem
    # Local drives, UNC paths and relative paths are fine.
    for ok in ("C:\\ProgramData\\econnector", "\\\\nas01\\praxis\\out", "data\\out"):
        assert winpaths.mapped_drive_problem("folders.outbox", ok, mapped) is None
    assert winpaths.folder_problems({"folders.outbox": "Z:\\a", "folders.inbox": "C:\\b"},
                                    mapped) == [winpaths.mapped_drive_problem(
                                        "folders.outbox", "Z:\\a", mapped)]


def test_no_mapped_drives_off_windows() -> None:
    assert winpaths.mapped_drives() == {}


def test_long_paths_get_the_prefix_and_short_ones_do_not() -> None:
    short = "C:\\data\\outbox\\a.pdf"
    assert winpaths.long_path(short) == short
    deep = "C:\\data\\" + "\\".join(["folder-with-a-long-name"] * 12) + "\\a.pdf"
    assert len(deep) >= winpaths.MAX_PATH
    assert winpaths.long_path(deep) == "\\\\?\\" + deep
    # Normalized first: the prefix turns off Windows' own handling of / and ..
    messy = "C:/data/x/../" + "/".join(["folder-with-a-long-name"] * 12) + "/a.pdf"
    out = winpaths.long_path(messy)
    assert out.startswith("\\\\?\\C:\\data\\folder-with-a-long-name\\")
    assert "/" not in out and ".." not in out
    share = "\\\\nas01\\praxis\\"
    unc = share + "\\".join(["folder-with-a-long-name"] * 12)
    assert winpaths.long_path(unc) == "\\\\?\\UNC\\nas01\\praxis\\" + unc[len(share):]
    # Already prefixed, device paths and relative paths stay as they are.
    for same in ("\\\\?\\" + deep, "\\\\.\\pipe\\x", "relative\\" + "x" * 300):
        assert winpaths.long_path(same) == same


def _winerror(code: int) -> OSError:
    e = OSError(errno.EINVAL, "Windows error")
    e.winerror = code  # type: ignore[attr-defined]  # what Windows sets; absent on Linux
    return e


def test_sharing_and_lock_violations_are_busy_not_refused() -> None:
    assert winpaths.open_error_kind(_winerror(32)) == "busy"
    assert winpaths.open_error_kind(_winerror(33)) == "busy"
    assert winpaths.open_error_kind(PermissionError(errno.EACCES, "denied")) == "busy"
    assert winpaths.open_error_kind(FileNotFoundError(errno.ENOENT, "gone")) == "gone"
    assert winpaths.open_error_kind(_winerror(3)) == "gone"
    assert winpaths.open_error_kind(_winerror(87)) == "other"
    assert winpaths.open_error_kind(OSError(errno.EIO, "io")) == "other"


def test_safeopen_turns_a_sharing_violation_into_the_busy_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outbox PDF another program holds: safeopen raises PermissionError, which the
    scan (intake.probe_pairs) reads as BUSY, i.e. Wait("file-busy"), never a refusal."""
    pdf, side = tmp_path / "a.pdf", tmp_path / "a.json"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    side.write_text("{}")
    pid, sid = (safeopen.FileId(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                for st in (os.stat(pdf), os.stat(side)))
    real_open = os.open

    def held(path: object, flags: int, *a: object) -> int:
        if str(path) == str(pdf):
            raise _winerror(32)  # what another program's open without sharing gives
        return real_open(path, flags, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(safeopen.os, "open", held)
    with pytest.raises(PermissionError):
        safeopen.open_fd(pdf, pid)
    assert probe_pairs([ProbeJob("a", pdf, pid, side, sid)]) == {"a": BUSY}
    monkeypatch.setattr(safeopen.os, "open", real_open)
    probe = probe_pairs([ProbeJob("a", pdf, pid, side, sid)])["a"]
    assert isinstance(probe, safeopen.PdfProbe) and probe.has_eof


def test_check_usable_names_every_folder_and_the_log_on_a_mapped_drive() -> None:
    """What check-config (and the service's start) says on Windows, from the config's own
    paths: each folder and the log file on a mapped letter, with the UNC path to use."""
    from types import SimpleNamespace

    from econnector.config import windows_folder_problems

    folders = SimpleNamespace(outbox="Z:\\econnector\\outbox", inbox="Z:\\econnector\\inbox",
                              archive="D:\\archive", failed="D:\\failed",
                              work="C:\\ProgramData\\econnector\\work")
    cfg = SimpleNamespace(folders=folders, log_file="Z:\\logs\\econnector.jsonl")
    lines = windows_folder_problems(cfg, {"Z": "\\\\nas\\practice"})  # type: ignore[arg-type]
    assert [line.split(":", 1)[0] for line in lines] == [
        "folders.outbox", "folders.inbox", "logging.file"]
    assert all("\\\\nas\\practice" in line for line in lines), lines
    cfg.log_file = "-"
    assert len(windows_folder_problems(cfg, {"Z": ""})) == 2  # type: ignore[arg-type]
    assert windows_folder_problems(cfg, {}) == []  # type: ignore[arg-type]
