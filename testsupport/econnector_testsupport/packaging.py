"""Which distributions a requirement list pulls, for the packaging tests (issue 10)."""

from __future__ import annotations

from packaging.requirements import Requirement

# The vault's distribution carries them; requiring it is requiring them.
WEB_SERVER_DISTRIBUTIONS = {"starlette", "uvicorn", "python-multipart", "econnector-vault"}


def normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def base_requirements(requirements: list[str]) -> set[str]:
    """The distributions a plain install pulls: requirements whose marker holds
    without any extra (here, on this interpreter)."""
    out = set()
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.add(normalized(req.name))
    return out


def only_under_extras(requirements: list[str], extras: tuple[str, ...]) -> list[str]:
    """The requirements naming a web-server distribution that a plain install would
    pull, or that no one of ``extras`` asks for (empty: as it should be)."""
    wrong = []
    for text in requirements:
        req = Requirement(text)
        if normalized(req.name) not in WEB_SERVER_DISTRIBUTIONS:
            continue
        if (req.marker is None or req.marker.evaluate({"extra": ""})
                or not any(req.marker.evaluate({"extra": e}) for e in extras)):
            wrong.append(text)
    return wrong
