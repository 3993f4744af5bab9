"""The vault's direct signature check: it accepts untouched signatures, nothing changed.

Real signatures (ECDSA, RSA PKCS#1 v1.5, RSA-PSS) made by pyHanko; every change
to the signed bytes must make the direct check give up, so that pyHanko's
verdict (and wording) decides.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from econnector_testsupport.vault import (
    add_document_timestamp,
    sign_pdf,
    signing_identity,
    unsigned_pdf,
)
from econnector_vault import sigcheck
from econnector_vault.errors import StoreError
from econnector_vault.signatures import check_pdf_signature, check_with_pyhanko


@pytest.fixture(scope="module")
def signed() -> dict[str, bytes]:
    rsa_id = signing_identity("Dr RSA", rsa_key=True)
    data = unsigned_pdf("Invoice 2026-000777", pages=2)
    return {
        "ecdsa": sign_pdf(data),
        "rsa": sign_pdf(data, rsa_id),
        "rsa-pss": sign_pdf(data, rsa_id, pss=True),
    }


def write(tmp_path: Path, data: bytes, name: str = "doc.pdf") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def pyhanko_accepts(path: Path) -> bool:
    try:
        check_with_pyhanko(path, None)
    except StoreError:
        return False
    return True


@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "rsa-pss"])
def test_untouched_signatures_are_verified_directly(
    tmp_path: Path, signed: dict[str, bytes], kind: str
) -> None:
    path = write(tmp_path, signed[kind])
    assert sigcheck.verified(path)
    assert pyhanko_accepts(path)


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_a_changed_signed_byte_is_never_verified(
    tmp_path: Path, signed: dict[str, bytes], kind: str
) -> None:
    """Every byte the signature covers; inside the /Contents hole (which no PDF
    signature covers) a change may only be accepted if pyHanko accepts it too: the
    CMS's certificate bag, for one, is not signed."""
    data = signed[kind]
    m = sigcheck._BYTE_RANGE.search(data, data.rfind(b"/ByteRange"))
    assert m is not None
    hole = range(int(m.group(2)), int(m.group(3)))
    # Every 97th byte over the whole file, plus the first and last bytes.
    for i in sorted({0, len(data) - 1, *range(0, len(data), 97)}):
        changed = bytearray(data)
        changed[i] ^= 0x01
        path = write(tmp_path, bytes(changed))
        if i not in hole:
            assert not sigcheck.verified(path), f"byte {i}"
        elif sigcheck.verified(path):
            assert pyhanko_accepts(path), f"byte {i} in the hole"


def test_appended_truncated_and_unsigned_files_are_not_verified(
    tmp_path: Path, signed: dict[str, bytes]
) -> None:
    data = signed["rsa"]
    assert not sigcheck.verified(write(tmp_path, data + b"\n% appended\n"))
    assert not sigcheck.verified(write(tmp_path, data[:-1]))
    assert not sigcheck.verified(write(tmp_path, unsigned_pdf()))
    assert not sigcheck.verified(write(tmp_path, b""))
    assert not sigcheck.verified(tmp_path / "missing.pdf")


def test_a_document_timestamp_last_is_left_to_pyhanko(
    tmp_path: Path, signed: dict[str, bytes]
) -> None:
    path = write(tmp_path, add_document_timestamp(signed["ecdsa"]))
    assert not sigcheck.verified(path)  # not the shape it knows
    check_pdf_signature(path, None)  # pyHanko accepts it


_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _hole(data: bytes) -> tuple[int, int]:
    """The ``/Contents`` hole (``<`` to after ``>``) of a file's last signature."""
    m = sigcheck._BYTE_RANGE.search(data, data.rfind(b"/ByteRange"))
    assert m is not None
    return int(m.group(2)), int(m.group(3))


# RSA-PSS's mask generation (MGF1 and its hash) is named outside the signed attributes.
_MGF1_SHA256 = "06092A864886F70D010108300D06096086480165030402010500"


@pytest.mark.parametrize(
    "replacement",
    [
        pytest.param("0609208648" + _MGF1_SHA256[10:], id="unknown-mask-function"),
        pytest.param(_MGF1_SHA256.replace("040201", "040202"), id="mgf1-with-sha384"),
    ],
)
def test_changed_pss_parameters_are_left_to_pyhanko(
    tmp_path: Path, signed: dict[str, bytes], replacement: str
) -> None:
    original = signed["rsa-pss"]
    b, c = _hole(original)
    at = original.index(_MGF1_SHA256.encode(), b, c)
    path = write(
        tmp_path, original[:at] + replacement.encode() + original[at + len(_MGF1_SHA256) :]
    )
    assert not pyhanko_accepts(path)
    assert not sigcheck.verified(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_file_the_direct_check_accepts_pyhanko_accepts_too(
    tmp_path: Path, signed: dict[str, bytes], data: st.DataObject
) -> None:
    """Every example compares the direct check's verdict with pyHanko's.

    Three examples in four edit bytes anywhere (which mostly breaks the file);
    the fourth only puts hex digits into the hole, so the file still parses and
    both checks must read the CMS (certificates, signature, zero padding).
    """
    original = signed[data.draw(st.sampled_from(sorted(signed)))]
    b, c = _hole(original)
    changed = bytearray(original)
    hex_only = data.draw(st.integers(0, 3)) == 0
    for _ in range(data.draw(st.integers(1, 4))):
        if hex_only:
            at = data.draw(st.integers(b + 1, c - 2))
            changed[at] = data.draw(st.sampled_from(_HEX_DIGITS))
            continue
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, len(changed) - 1))
        if op == "flip":
            changed[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            changed[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del changed[at : at + data.draw(st.integers(1, 8))]
    path = write(tmp_path, bytes(changed))
    direct, reference = sigcheck.verified(path), pyhanko_accepts(path)
    signed_bytes_changed = len(changed) != len(original) or (
        changed[:b] != original[:b] or changed[c:] != original[c:]
    )
    if signed_bytes_changed:
        event("a signed byte changed: both refuse")
        assert (direct, reference) == (False, False)
    elif changed[b + 1 : c - 1].lower() == original[b + 1 : c - 1].lower():
        event("same signature bytes: both accept")
        assert (direct, reference) == (True, True)
    else:
        # Only the unsigned hole changed: the direct check may leave a file to
        # pyHanko (False), but never accepts one pyHanko refuses.
        event(f"hole changed: direct={direct}, pyHanko={reference}")
        assert reference or not direct
