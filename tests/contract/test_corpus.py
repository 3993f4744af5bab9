"""The shared real-world corpus through the real daemon and the real vault server.

good/   -> signed, delivered, valid for pyHanko and pdfsig, earlier signatures intact
bad/    -> rejected with a specific code, original kept in failed/
either/ -> the outcome docs/pdf-policy.md lists for that file (never a generic error)
The daemon stays up throughout and stops cleanly afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.misc import PdfReadError

from econnector.errors import CATALOG
from econnector_testsupport.daemon import (
    PROVIDER,
    assert_pdfsig_last_valid,
    drop,
    make_identity,
    pyhanko_status,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.paths import CORPUS, DOCS
from econnector_testsupport.vault import running_vault

pytestmark = pytest.mark.corpus

POLICY = DOCS / "pdf-policy.md"
# Signed and delivered, but pyHanko's reader cannot enumerate the signatures of
# these (see docs/pdf-policy.md): only poppler's pdfsig validates them. If
# pyHanko learns to read one, the test says so and it leaves this set.
PYHANKO_CANNOT_ENUMERATE = {"MatthiasValvekens_pyHanko__form-tree-circular-ref-input.pdf"}


def corpus_files() -> list[tuple[str, Path]]:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return [
        (folder, p)
        for folder in ("good", "bad", "either")
        for p in sorted((CORPUS / folder).glob("*.pdf"))
    ]


def stem_for(i: int, path: Path) -> str:
    return f"c{i:03d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:100]


def documented_either_outcomes() -> dict[str, str]:
    """``| file | outcome |`` rows of the either/ table in docs/pdf-policy.md."""
    rows = {}
    for line in POLICY.read_text("utf-8").splitlines():
        m = re.match(r"^\| `([^`]+\.pdf)` \| (delivered|rejected: `[a-z-]+`) \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_corpus_ends_as_its_readme_says(tmp_path: Path) -> None:
    files = corpus_files()
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault") as vp:
        cfg = write_config(
            tmp_path / "practice",
            [(PROVIDER, ident)],
            vault=vp,
            watch={"incomplete_timeout_s": 2},
            limits={"worker_timeout_s": 60, "worker_memory_mb": 1024},
        )
        with running_daemon(cfg) as d:
            stems = {}
            for i, (folder, path) in enumerate(files):
                stem = stem_for(i, path)
                stems[stem] = (folder, path)
                drop(
                    d.outbox,
                    stem,
                    path.read_bytes(),
                    sidecar(f"CORPUS-{i:03d}", type_="certificate"),
                )
            outcomes = {}
            for stem in stems:
                outcomes[stem] = d.wait_outcome(stem, timeout=180)
            assert d.alive(), d.log()

            documented = documented_either_outcomes()
            problems = []
            table = []
            for stem, (folder, path) in stems.items():
                st = outcomes[stem]
                if st["state"] == "delivered":
                    outcome = "delivered"
                    signed = d.inbox / f"{stem}.signed.pdf"
                    if path.name in PYHANKO_CANNOT_ENUMERATE:
                        with pytest.raises(PdfReadError):
                            pyhanko_status(signed, ident.ca_cert)
                        assert_pdfsig_last_valid(signed)
                        table.append((folder, path.name, "delivered"))
                        continue
                    last, earlier = pyhanko_status(signed, ident.ca_cert)
                    if not (
                        last.intact
                        and last.valid
                        and last.trusted
                        and last.coverage.name == "ENTIRE_FILE"
                    ):
                        problems.append(f"{path.name}: our signature does not validate")
                    if folder == "good" and not all(earlier):
                        problems.append(f"{path.name}: an earlier signature was broken")
                    assert_pdfsig_last_valid(signed)
                    if (d.failed / f"{stem}.pdf").exists():
                        problems.append(f"{path.name}: delivered but also in failed/")
                else:
                    err = d.error(stem)
                    code = err["code"] if err else "?"
                    outcome = f"rejected: `{code}`"
                    if code not in CATALOG or code == "internal-error":
                        problems.append(f"{path.name}: unspecific code {code}")
                    if not (d.failed / f"{stem}.pdf").exists():
                        problems.append(f"{path.name}: original not kept in failed/")
                table.append((folder, path.name, outcome))
                if folder == "good" and outcome != "delivered":
                    problems.append(f"{path.name}: good file was {outcome}")
                if folder == "bad" and outcome == "delivered":
                    problems.append(f"{path.name}: bad file was delivered")
                if folder == "either" and documented.get(path.name) != outcome:
                    problems.append(
                        f"{path.name}: {outcome}, but docs/pdf-policy.md says "
                        f"{documented.get(path.name)}"
                    )
            report = "\n".join(f"| {f} | `{n}` | {o} |" for f, n, o in sorted(table))
            assert not problems, "\n".join(problems) + "\n\n" + report
            assert list(d.outbox.iterdir()) == []
        # nothing was stored twice: one vault record per delivered document
        delivered = sum(1 for o in outcomes.values() if o["state"] == "delivered")
        stored = list((vp.data_dir / "documents").rglob("*.pdf"))
        assert len(stored) == delivered
