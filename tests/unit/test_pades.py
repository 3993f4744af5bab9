"""The pure parts of the signature levels (pades.py): the order of levels, what each
asks pyHanko for, the TSA client's authentication, and failures translated to codes.
The levels against a real PKI: tests/e2e/test_levels.py and test_levels_e2e.py."""

from __future__ import annotations

from pyhanko.sign.timestamps import TimestampRequestError

from econnector import pades
from econnector.errors import ServiceUnavailable
from econnector.signer import Policy


def test_levels_are_ordered() -> None:
    assert pades.at_least("B-LTA", "B-LT") and pades.at_least("B-T", "B-T")
    assert not pades.at_least("B-B", "B-T")


def test_the_tsa_client_is_built_once_with_its_password() -> None:
    svc = pades.Services(Policy(tsa_url="https://tsa.example/", tsa_auth=("practice", b"s3cret"),
                                tsa_timeout=7.0))
    try:
        assert svc.tsa is not None and svc.tsa.url == "https://tsa.example/"
        sent = svc.tsa.request_headers()
        assert sent["Authorization"] == "Basic cHJhY3RpY2U6czNjcmV0"  # practice:s3cret
        assert sent["Content-Type"] == "application/timestamp-query"
        assert svc.tsa.timeout == 7.0
        assert "s3cret" not in repr(Policy(tsa_auth=("practice", b"s3cret")))
    finally:
        svc.close()
    assert pades.Services(Policy()).tsa is None


def test_a_tsa_that_does_not_answer_is_a_wait_naming_it() -> None:
    try:
        raise TimestampRequestError("Error while contacting timestamp service") from (
            ConnectionRefusedError(111, "Connection refused"))
    except TimestampRequestError as e:
        err = pades.translate(e, "90812100", "http://127.0.0.1:9/tsa")
    assert isinstance(err, ServiceUnavailable) and err.code == "tsa-unavailable"
    assert err.params["service"] == "http://127.0.0.1:9/tsa"
    assert "Connection refused" in err.params["detail"]


def test_an_error_that_is_not_about_signatures_is_left_to_the_caller() -> None:
    assert pades.translate(ValueError("bad xref"), "90812100", None) is None
