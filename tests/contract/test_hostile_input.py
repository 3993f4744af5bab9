"""Hostile input: the sidecar parser under fuzzing, and path traversal end to end.

tests/contract/test_contract.py covers the field rules, small random bytes, small edits of
the example and the fixed YAML feature cases. This file adds what an attacker
would try: wrong types everywhere, strings up to the size limit, nesting 10 to
10,000 deep, alias bombs, large garbage, code-running tags, huge numbers,
NaN/Infinity everywhere, duplicate keys spelled differently, byte-order marks
and UTF-16/32. The answer is always a :class:`SidecarError` with a catalog code
(or, for valid input, a document), never another exception, and memory stays
bounded.

Memory bound. ``tracemalloc`` measures the peak allocated while one sidecar is
parsed. Parsing is linear in the input, and the size limit (64 KiB) is checked
before anything is decoded, so the peak is bounded by ``k * size + 2 MiB``
(the 2 MiB for the parser machinery and small inputs). ``k`` is the cost of the
densest input per byte:

* JSON builds plain Python objects: at most a small dict or list (56-64 bytes
  plus slot) per 2-3 input bytes; measured up to ~50x for ``[{},{},...]``.
  Bound: ``k = 100``.
* YAML (PyYAML) keeps, for every node, a token, an event, a node with two
  ``Mark`` objects and the constructed value until the document is complete.
  The densest input is a flow sequence of empty single-pair mappings
  ``[?,?,?,...]`` (a mapping and two null scalars per 2 bytes): measured ~800x,
  i.e. about 52 MB for a 64 KiB sidecar. Bound: ``k = 1000`` (66 MB at the
  limit). Anchors, aliases and tags are refused before anything is expanded, so
  alias bombs stay under 1 MiB whatever they would expand to.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from econnector import contract
from econnector.contract import DocumentMeta, parse_sidecar
from econnector.errors import CATALOG, SidecarError
from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import running_vault, unsigned_pdf

PROVIDERS = ["90812100"]
TODAY = date(2026, 11, 25)
LIMIT = 65536
MiB = 1 << 20
PER_BYTE = {"yaml": 1000, "json": 100}
EXAMPLE: dict[str, Any] = yaml.safe_load(contract.example_sidecar())
INT_DIGITS = sys.get_int_max_str_digits()  # 4300 by default; 0 means unlimited

Result = DocumentMeta | SidecarError
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def measured(data: bytes, fmt: str) -> tuple[Result, int]:
    """Parse under tracemalloc: the result (a document or the SidecarError) and the peak."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result: Result = parse_sidecar(data, fmt,  # type: ignore[arg-type]
                                       providers=PROVIDERS, today=TODAY, max_bytes=LIMIT)
    except SidecarError as e:
        result = e
    finally:  # any other exception propagates and fails the test
        peak = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()
    return result, peak


def check(data: bytes, fmt: str) -> Result:
    """The parser's contract for any input: a document or a cataloged SidecarError, bounded."""
    result, peak = measured(data, fmt)
    if isinstance(result, SidecarError):
        assert result.code in CATALOG, result.code
        assert result.code != "internal-error"
    else:
        assert isinstance(result, DocumentMeta)
    bound = PER_BYTE[fmt] * len(data) + 2 * MiB
    assert peak <= bound, f"peak {peak} > {bound} for {len(data)} bytes of {fmt}"
    return result


def code_of(result: Result) -> str:
    return result.code if isinstance(result, SidecarError) else "ok"


def field_of(result: Result) -> str | None:
    return result.field if isinstance(result, SidecarError) else None


def dump(doc: Any, fmt: str, unicode: bool = False) -> bytes:
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=not unicode).encode("utf-8")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=unicode).encode("utf-8")


def with_value(path: str, value: Any) -> dict[str, Any]:
    """The example with ``path`` (dotted) set to ``value``."""
    doc = json.loads(json.dumps(EXAMPLE))
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    return doc  # type: ignore[no-any-return]


# -- wrong types at every field -------------------------------------------------------------------

STRING_FIELDS = [
    "document_id", "type", "issued_at", "language", "patient.matricule", "patient.last_name",
    "patient.first_name", "patient.insurer", "author.provider_code", "submitted_by",
    "invoice.total", "invoice.currency",
]
BLOCKS = ["patient", "author", "invoice"]
ALL_FIELDS = ["schema", *STRING_FIELDS, *BLOCKS, "invoice.paid"]

finite = st.floats(allow_nan=False, allow_infinity=False)
any_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite | st.text(
    max_size=8)
plain_keys = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
containers = st.lists(any_scalar, max_size=4) | st.dictionaries(plain_keys, any_scalar,
                                                                max_size=4)
non_strings = st.booleans() | st.integers(-(2**70), 2**70) | finite | containers


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(ALL_FIELDS))
    if path in BLOCKS:
        value = draw(st.booleans() | st.integers() | finite | st.text(max_size=8)
                     | st.lists(any_scalar, max_size=4))
    elif path == "invoice.paid":
        value = draw(st.integers() | finite | st.text(max_size=8) | containers)
    else:
        value = draw(non_strings)
    return path, value


@FUZZ
@given(wrong_types(), st.sampled_from(["yaml", "json"]))
def test_a_wrong_type_at_any_field_is_named(case: tuple[str, Any], fmt: str) -> None:
    path, value = case
    result = check(dump(with_value(path, value), fmt), fmt)
    expected = "sidecar-schema" if path == "schema" else "field-type"
    assert (code_of(result), field_of(result)) == (expected, path)


# -- huge strings, up to the size limit ------------------------------------------------------------

HUGE_CODES = {
    "schema": "sidecar-schema",
    "document_id": "document-id-invalid",
    "type": "document-type-unknown",
    "issued_at": "issued-at-invalid",
    "language": "language-unsupported",
    "patient.matricule": "matricule-format",
    "patient.last_name": "field-invalid",
    "patient.first_name": "field-invalid",
    "patient.insurer": "insurer-unknown",
    "author.provider_code": "field-invalid",
    "submitted_by": "field-invalid",
    "invoice.total": "invoice-total-invalid",
    "invoice.currency": "invoice-currency",
    "x-big": "ok",
    "patient.x-big": "ok",
}


@FUZZ
@given(
    st.sampled_from([*HUGE_CODES, "<key>", "<x-key>"]),
    st.sampled_from(["a", "é", "€", "😀", "ab-"]),
    st.integers(200, LIMIT + 2000),
    st.sampled_from(["yaml", "json"]),
)
def test_huge_strings_up_to_the_limit(where: str, unit: str, size: int, fmt: str) -> None:
    text = unit * max(200, size // len(unit.encode()))
    if where == "<key>":
        doc, expected = {**EXAMPLE, "k" + text: 1}, "field-unknown"
    elif where == "<x-key>":
        doc, expected = {**EXAMPLE, "x-" + text: 1}, "ok"
    else:
        doc, expected = with_value(where, text), HUGE_CODES[where]
    data = dump(doc, fmt, unicode=True)
    if len(data) > LIMIT:
        expected = "sidecar-too-large"
    assert code_of(check(data, fmt)) == expected


# -- deep nesting, 10 to 10,000 levels -------------------------------------------------------------


def nest(depth: int, kind: str, fmt: str) -> str:
    """``depth`` nested collections around a 0, as flow text (JSON is also flow YAML)."""
    opens, closes = [], []
    for i in range(depth):
        as_list = kind == "list" or (kind == "mixed" and i % 2 == 0)
        opens.append("[" if as_list else ('{"a": ' if fmt == "json" else "{a: "))
        closes.append("]" if as_list else "}")
    return "".join(opens) + "0" + "".join(reversed(closes))


def nest_block(depth: int) -> str:
    """``depth`` nested block mappings and sequences (YAML), indented two spaces per level."""
    lines = []
    for i in range(depth):
        lines.append("  " * (i + 1) + ("- " if i % 2 else "a:"))
    lines[-1] += " 0" if lines[-1].endswith(":") else "0"
    return "\n".join(lines) + "\n"


@FUZZ
@given(
    st.integers(10, 10_000) | st.integers(25, 40),
    st.sampled_from(["list", "map", "mixed", "block"]),
    st.sampled_from(["x-value", "root"]),
    st.sampled_from(["yaml", "json"]),
)
def test_deep_nesting_is_refused_beyond_32_levels(
    depth: int, kind: str, where: str, fmt: str
) -> None:
    assume(not (kind == "block" and fmt == "json"))
    if kind == "block":
        depth = min(depth, 250)  # indentation makes deep block YAML quadratic in size
        body = nest_block(depth)
        data = contract.example_sidecar() + "x-deep:\n" + body if where == "x-value" else body
        levels = depth + (1 if where == "x-value" else 0)
    elif fmt == "json":
        inner = nest(depth, kind, fmt)
        ex = json.dumps(EXAMPLE)
        data = ex[:-1] + ', "x-deep": ' + inner + "}" if where == "x-value" else inner
        levels = depth + (1 if where == "x-value" else 0)
    else:
        inner = nest(depth, kind, fmt)
        data = contract.example_sidecar() + "x-deep: " + inner + "\n" if where == "x-value" \
            else inner
        levels = depth + (1 if where == "x-value" else 0)
    raw = data.encode()
    started = time.process_time()  # CPU, not wall: other tests share the cores (xdist)
    result = check(raw, fmt)
    assert time.process_time() - started < 5
    if len(raw) > LIMIT:
        expected = "sidecar-too-large"
    elif levels > contract.MAX_DEPTH:
        expected = "sidecar-syntax"
    elif where == "x-value":
        expected = "ok"
    else:  # a nest at the root: a list is not a mapping, a mapping lacks `schema`
        first_is_list = kind == "list" or kind == "mixed"
        expected = "sidecar-not-mapping" if first_is_list else "field-missing"
    assert code_of(result) == expected
    if expected == "sidecar-syntax":  # refused for its depth, not for another syntax error
        assert "nested" in str(result.params.get("detail")), result.params


# -- alias bombs ----------------------------------------------------------------------------------


def alias_bomb(levels: int, fan: int, style: str) -> str:
    if style == "flow":
        parts = ['a0: &a0 "lol"'] + [
            f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
        return "{" + ", ".join(parts) + "}\n"
    if style == "merge":
        lines = ["a0: &a0 {k0: lol}"] + [
            f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * fan) + f"], k{i}: lol}}"
            for i in range(1, levels)]
        return "\n".join(lines) + "\n"
    lines = ['a0: &a0 "lol"'] + [
        f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    body = "\n".join(lines) + "\n"
    if style == "x-value":
        indented = "".join("  " + line + "\n" for line in body.splitlines())
        return contract.example_sidecar() + "x-bomb:\n" + indented
    if style == "late":  # after a valid document's worth of keys
        return contract.example_sidecar() + body.replace("a0:", "x-a0:", 1)
    return body


@FUZZ
@given(st.integers(2, 9), st.integers(2, 9),
       st.sampled_from(["block", "flow", "merge", "x-value", "late"]))
def test_alias_bombs_are_refused_before_they_expand(levels: int, fan: int, style: str) -> None:
    data = alias_bomb(levels, fan, style).encode()
    started = time.process_time()  # CPU, not wall: other tests share the cores (xdist)
    result, peak = measured(data, "yaml")
    assert time.process_time() - started < 1
    assert code_of(result) == "sidecar-yaml-feature"
    assert peak < MiB  # fan ** levels nodes (9 ** 9 = 387 million) were never built


# -- garbage --------------------------------------------------------------------------------------

YAMLISH = "[]{}:,-?&*!|>'\"#%@` \n\ta0.~\\"


def garbage(kind: str, size: int, rng: random.Random) -> bytes:
    if kind == "bytes":
        return rng.randbytes(size)
    if kind == "ascii":
        return bytes(rng.randrange(32, 127) for _ in range(size))
    if kind == "yamlish":
        return "".join(rng.choice(YAMLISH) for _ in range(size)).encode()
    # valid UTF-8 text, any plane, without surrogates
    chars = []
    for _ in range(size // 2):
        c = rng.randrange(1, 0x10FFFF)
        chars.append(chr(c if not 0xD800 <= c < 0xE000 else c - 0x800))
    return "".join(chars).encode("utf-8")


@FUZZ
@given(
    st.sampled_from(["bytes", "ascii", "yamlish", "utf8"]),
    st.integers(0, LIMIT + 1000) | st.integers(0, 4000),
    st.sampled_from(["alone", "inserted", "appended"]),
    st.integers(0, 2**32),
    st.sampled_from(["yaml", "json"]),
)
def test_garbage_of_any_size_gives_a_cataloged_error(
    kind: str, size: int, where: str, seed: int, fmt: str
) -> None:
    rng = random.Random(seed)
    if kind == "yamlish":
        size = min(size, 16_000)  # dense punctuation is the slow case for PyYAML: keep it short
    blob = garbage(kind, size, rng)
    base = contract.example_sidecar().encode() if fmt == "yaml" else json.dumps(EXAMPLE).encode()
    if where == "alone":
        data = blob
    elif where == "appended":
        data = base + blob
    else:
        pos = rng.randrange(len(base) + 1)
        data = base[:pos] + blob + base[pos:]
    result = check(data, fmt)
    if len(data) > LIMIT:
        assert code_of(result) == "sidecar-too-large"


def test_the_densest_yaml_stays_within_the_memory_bound() -> None:
    """``[?,?,...]`` at the size limit: the worst case measured for PyYAML (see the bound)."""
    room = LIMIT - len(contract.example_sidecar()) - 20
    data = (contract.example_sidecar() + "x-a: [" + "?," * (room // 2) + "0]\n").encode()
    assert len(data) <= LIMIT
    assert code_of(check(data, "yaml")) == "ok"


# -- tags that would run code ---------------------------------------------------------------------

TAGS = [
    "!!python/object/apply:os.system ['touch {s}']",
    "!!python/object/apply:subprocess.call [['touch', '{s}']]",
    "!!python/object/new:os.system ['touch {s}']",
    "!!python/object/apply:builtins.exec ['open(\"{s}\", \"w\")']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {s}']",
    "!e!system ['touch {s}']",
    "!!binary dG91Y2g=",
    "!!set {{a: null}}",
    "!!omap [a: 1]",
    "!!timestamp 2026-11-25",
    "!!int '1'",
    "!custom 'x'",
]
POSITIONS = {
    "root": "{tag}\n",
    "value": "{example}x-a: {tag}\n",
    "nested": "{example}x-a:\n  b: [1, {tag}]\n",
    "field": "{example_no_type}type: {tag}\n",
    "key": "{example}? {tag}\n: 1\n",
    "flow": "{example}x-a: {{b: {tag} }}\n",
}


@pytest.mark.parametrize("tag", TAGS)
def test_tags_never_construct_anything(
    tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    def forbidden(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise AssertionError("a YAML tag ran code")

    monkeypatch.setattr(os, "system", forbidden)
    monkeypatch.setattr(subprocess, "call", forbidden)
    sentinel = tmp_path / "pwned"
    example = contract.example_sidecar()
    no_type = example.replace("type: invoice\n", "")
    for name, template in POSITIONS.items():
        text = template.format(tag=tag.format(s=sentinel), example=example,
                               example_no_type=no_type)
        if tag.startswith("!e!"):
            text = "%TAG !e! tag:yaml.org,2002:python/object/apply:os.\n---\n" + text
        for fmt in ("yaml", "json"):
            result = check(text.encode(), fmt)
            expected = "sidecar-yaml-feature" if fmt == "yaml" else "sidecar-syntax"
            assert code_of(result) == expected, (name, fmt, text)
    assert not sentinel.exists() and calls == []


# -- huge numbers ---------------------------------------------------------------------------------

NUMBER_PLACES = ["x-n", "x-list", "document_id", "invoice.total", "invoice.paid",
                 "patient.matricule", "root"]


@st.composite
def number_literals(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "float", "exp", "tiny", "inf"]))
    digits = draw(st.integers(1, 20_000) | st.integers(4290, 4310))
    sign = draw(st.sampled_from(["", "-"]))
    if kind == "int":
        return sign + "1" + "0" * (digits - 1)
    if kind == "float":
        return sign + "1" + "0" * (digits - 1) + ".5"
    if kind == "exp":
        return sign + "1e" + str(digits)
    if kind == "tiny":
        return sign + "0." + "0" * digits + "1"
    return sign + draw(st.sampled_from(["1e999", "1.7976931348623157e309", "9" * 400 + ".0"]))


def number_expectation(literal: str, place: str, size: int) -> str:
    if size > LIMIT:
        return "sidecar-too-large"
    if re.fullmatch(r"-?[0-9]+", literal) and 0 < INT_DIGITS < len(literal.lstrip("-")):
        return "sidecar-syntax"  # int() refuses more than sys.get_int_max_str_digits() digits
    value = json.loads(literal)
    if place == "root":
        return "sidecar-not-mapping"
    if place.startswith("x-"):
        return "field-invalid" if isinstance(value, float) and not math.isfinite(value) else "ok"
    return "field-type"


@FUZZ
@given(number_literals(), st.sampled_from(NUMBER_PLACES))
def test_json_huge_numbers(literal: str, place: str) -> None:
    if place == "root":
        text = literal
    else:
        marker = "__NUMBER__"
        value: Any = [1, marker] if place == "x-list" else marker
        doc = with_value(place, value) if "." in place or place in EXAMPLE else {
            **EXAMPLE, place: value}
        text = json.dumps(doc).replace(f'"{marker}"', literal)
    data = text.encode()
    result = check(data, "json")
    assert code_of(result) == number_expectation(literal, place, len(data)), literal[:40]


@FUZZ
@given(st.integers(1, 12_000), st.sampled_from(["x-n", "document_id"]))
def test_yaml_huge_integers(digits: int, place: str) -> None:
    text = contract.example_sidecar().replace('document_id: "2026-000123"\n', "")
    text += f"{place}: 1{'0' * (digits - 1)}\n"
    if place == "x-n":
        text += 'document_id: "2026-000123"\n'
    result = check(text.encode(), "yaml")
    if 0 < INT_DIGITS < digits:
        assert code_of(result) == "sidecar-syntax"
    else:
        assert code_of(result) == ("ok" if place == "x-n" else "field-type")


# -- NaN and Infinity at every field --------------------------------------------------------------

JSON_SPECIALS = ["NaN", "Infinity", "-Infinity"]
YAML_SPECIALS = [".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.Inf", ".INF"]


@FUZZ
@given(st.sampled_from([*ALL_FIELDS, "x-a", "patient.x-a", "x-list"]),
       st.sampled_from(["yaml", "json"]), st.data())
def test_nan_and_infinity_anywhere(path: str, fmt: str, data: st.DataObject) -> None:
    literal = data.draw(st.sampled_from(JSON_SPECIALS if fmt == "json" else YAML_SPECIALS))
    marker = "__SPECIAL__"
    value: Any = [1, marker] if path == "x-list" else marker
    doc = with_value(path, value) if "." in path else {**EXAMPLE, path: value}
    if fmt == "json":
        text = json.dumps(doc).replace(f'"{marker}"', literal)
        expected, field = "sidecar-syntax", None  # NaN and Infinity are not JSON
    else:
        text = yaml.safe_dump(doc, sort_keys=False).replace(marker, literal)
        if path == "schema":
            expected, field = "sidecar-schema", path
        elif path.startswith("x-") or ".x-" in path:
            expected = "field-invalid"
            field = path.replace("x-list", "x-list[1]")
        else:
            expected, field = "field-type", path
    result = check(text.encode(), fmt)
    assert (code_of(result), field_of(result)) == (expected, field)
    if fmt == "json":  # refused for the special value, not for another syntax error
        assert "is not a JSON number" in str(result.params.get("detail")), result.params


# -- duplicate keys, also spelled differently -----------------------------------------------------

DUP_PLACES = {
    "": ["schema", "document_id", "type", "patient", "x-a"],
    "patient": ["matricule", "insurer", "x-b"],
    "author": ["provider_code"],
    "invoice": ["total", "paid"],
    "x-map": ["k", "x-k"],
}


def emit(node: Any, fmt: str, indent: int = 0) -> str:
    """A tiny emitter for lists of (key, value) pairs, so that keys can repeat."""
    if isinstance(node, list) and node and isinstance(node[0], tuple):
        if fmt == "json":
            return "{" + ", ".join(f"{json.dumps(k)}: {emit(v, fmt)}" for k, v in node) + "}"
        out = []
        for k, v in node:
            head = "  " * indent + k + ":"
            if isinstance(v, list) and v and isinstance(v[0], tuple):
                out.append(head + "\n" + emit(v, fmt, indent + 1))
            else:
                out.append(head + " " + emit(v, fmt))
        return "".join(line + "\n" for line in out).rstrip("\n") + ("\n" if indent else "")
    return json.dumps(node)  # scalars: JSON literals are YAML flow scalars too


def pairs(tree: Any) -> Any:
    if isinstance(tree, dict):
        return [(k, pairs(v)) for k, v in tree.items()]
    return tree


@FUZZ
@given(st.data(), st.sampled_from(["yaml", "json"]),
       st.sampled_from(["same", "escaped", "quoted"]), st.booleans())
def test_duplicate_keys_are_refused_however_spelled(
    data: st.DataObject, fmt: str, spelling: str, same_value: bool
) -> None:
    block = data.draw(st.sampled_from(list(DUP_PLACES)))
    key = data.draw(st.sampled_from(DUP_PLACES[block]))
    doc = {**EXAMPLE, "x-a": 1, "x-map": {"k": 1, "x-k": 2}}
    doc["patient"] = {**doc["patient"], "x-b": "c"}
    tree = pairs(doc)
    assert code_of(check(emit(tree, fmt).encode(), fmt)) == "ok"  # the emitter is sound
    target = tree if block == "" else next(v for k, v in tree if k == block)
    original = next(v for k, v in target if k == key)
    target.append(("__DUP__", original if same_value else "other"))
    text = emit(tree, fmt)
    if fmt == "json":  # "schema" or "\u0073chema": the same key once decoded
        spelled = json.dumps(key)
        if spelling == "escaped":
            spelled = '"' + f"\\u{ord(key[0]):04x}" + spelled[2:]
        text = text.replace('"__DUP__"', spelled)
    else:  # schema, "schema", "\x73chema" or 'schema': the same key once read
        spelled = {"same": key, "quoted": f"'{key}'",
                   "escaped": '"' + f"\\x{ord(key[0]):02x}" + key[1:] + '"'}[spelling]
        text = text.replace("__DUP__", spelled)
    result = check(text.encode(), fmt)
    assert (code_of(result), field_of(result)) == ("sidecar-syntax", None), text
    assert "duplicate key" in str(result.params.get("detail")), result.params


# -- byte-order marks and UTF-16/32 ---------------------------------------------------------------

BOM8 = b"\xef\xbb\xbf"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        (lambda s: BOM8 + s.encode(), {"yaml": "ok", "json": "ok"}),
        # a second BOM is U+FEFF text: PyYAML skips it, JSON refuses it
        (lambda s: BOM8 + BOM8 + s.encode(), {"yaml": "ok", "json": "sidecar-syntax"}),
        (lambda s: s.encode("utf-16"), {"yaml": "sidecar-encoding", "json": "sidecar-encoding"}),
        (lambda s: s.encode("utf-16-be"), {"yaml": "sidecar-encoding",
                                           "json": "sidecar-encoding"}),
        (lambda s: b"\xfe\xff" + s.encode("utf-16-be"), {"yaml": "sidecar-encoding",
                                                         "json": "sidecar-encoding"}),
        (lambda s: s.encode("utf-32"), {"yaml": "sidecar-encoding", "json": "sidecar-encoding"}),
        (lambda s: s.encode("utf-32-be"), {"yaml": "sidecar-encoding",
                                           "json": "sidecar-encoding"}),
        (lambda s: BOM8 + s.encode("utf-16-le"), {"yaml": "sidecar-encoding",
                                                  "json": "sidecar-encoding"}),
        (lambda s: BOM8 * 3 + s.encode(), {"yaml": "field-unknown", "json": "sidecar-syntax"}),
        (lambda s: s.replace("schema:", "sch\ufeffema:", 1)
         .replace('"schema"', '"sch\ufeffema"', 1).encode(),
         {"yaml": "field-missing", "json": "field-missing"}),
    ],
    ids=["bom", "two-boms", "utf-16", "utf-16-be", "utf-16-be-bom", "utf-32", "utf-32-be",
         "bom-then-utf-16", "three-boms", "bom-inside-a-key"],
)
def test_byte_order_marks_and_wide_encodings(encode: Any, expected: dict[str, str],
                                             fmt: str) -> None:
    text = contract.example_sidecar() if fmt == "yaml" else json.dumps(EXAMPLE)
    assert code_of(check(encode(text), fmt)) == expected[fmt]


@FUZZ
@given(st.text(min_size=1, max_size=300),
       st.sampled_from(["utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le"]),
       st.sampled_from(["yaml", "json"]))
def test_wide_encodings_of_any_text(name: str, encoding: str, fmt: str) -> None:
    assume(not re.search("[\ud800-\udfff]", name))
    doc = with_value("patient.last_name", name)
    text = dump(doc, fmt, unicode=True).decode()
    result = check(text.encode(encoding), fmt)
    # The whole document is encoded: its ASCII keys give NUL bytes, and a UTF-16/32 BOM
    # is not UTF-8 either.
    assert code_of(result) == "sidecar-encoding"


# -- path traversal -------------------------------------------------------------------------------

TRAVERSAL_IDS = [
    "../../etc/passwd", "../x", "a/b", "a\\b", "/etc/passwd", "%2e%2e%2f", "..%2F..%2Fx",
    "C:\\Windows\\x", "a\x00b", "．．／x", "..\u2215x", "~/x", "a/../b", "",
]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("doc_id", TRAVERSAL_IDS)
def test_path_like_document_ids_are_refused(doc_id: str, fmt: str) -> None:
    data = dump(with_value("document_id", doc_id), fmt)
    result = check(data, fmt)
    assert (code_of(result), field_of(result)) == ("document-id-invalid", "document_id")


@pytest.mark.parametrize("doc_id", ["..", "."])
def test_dot_only_document_ids_are_accepted_but_harmless(doc_id: str) -> None:
    """``.`` and ``..`` match the documented rule (1-64 of ``A-Za-z0-9._-``) and are accepted.

    They cannot traverse anything: a document_id is never used as a path component on
    its own (only hashed into the idempotency key, ``ec1-<hex>``), as the end-to-end
    test below shows with a ``..`` drop.
    """
    result = check(dump(with_value("document_id", doc_id), "yaml"), "yaml")
    assert isinstance(result, DocumentMeta) and result.document_id == doc_id


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    ident = make_identity(tmp_path_factory.mktemp("hostile-id"))
    root = tmp_path_factory.mktemp("hostile") / "practice"
    cfg = write_config(root, [(PROVIDER, ident)])
    with running_daemon(cfg) as d:
        yield d
        assert not list(d.inbox.glob(".*.tmp"))


def snapshot(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` except under ``skip``, with size and mtime."""
    out = {}
    for p in folder.rglob("*"):
        if p == skip or skip in p.parents:
            continue
        st_ = p.lstat()
        out[str(p.relative_to(folder))] = (st_.st_size, st_.st_mtime_ns)
    return out


ROOT_NAMES = {"outbox", "inbox", "archive", "failed", "work", "econnector.yaml",
              "econnector.log", "daemon.stderr"}


def test_traversal_document_ids_stay_inside_the_root(practice: Daemon) -> None:
    d = practice
    parent = d.root.parent
    before = snapshot(parent, d.root)
    top_before = sorted(p.name for p in parent.parent.iterdir())
    drop(d.outbox, "trav-1", unsigned_pdf("trav-1"), sidecar("../../x"))
    drop(d.outbox, "trav-2", unsigned_pdf("trav-2"), sidecar("..%2F..%2Fx"), fmt="json")
    drop(d.outbox, "trav-3", unsigned_pdf("trav-3"), sidecar("..", type_="certificate"))
    for stem in ("trav-1", "trav-2"):
        st_ = d.wait_outcome(stem)
        assert (st_["state"], st_["reason"]) == ("rejected", "document-id-invalid")
        err = d.error(stem)
        assert err is not None and err["code"] == "document-id-invalid"
        assert err["field"] == "document_id" and err["document_id"] is None
        assert (d.inbox / f"{stem}.error.json").exists()
        assert (d.failed / f"{stem}.pdf").exists()
    # `..` is a valid id (see above); delivered, and still nothing leaves the root
    st_ = d.wait_outcome("trav-3")
    assert st_["state"] == "delivered", st_
    assert d.receipt("trav-3")["document_id"] == ".."  # type: ignore[index]
    assert snapshot(parent, d.root) == before
    assert sorted(p.name for p in parent.parent.iterdir()) == top_before
    assert {p.name for p in d.root.iterdir()} <= ROOT_NAMES
    for p in d.root.rglob("*"):
        assert d.root in p.resolve().parents


def test_stems_with_dots_are_plain_names_in_the_inbox(practice: Daemon) -> None:
    d = practice
    drop(d.outbox, "a..b", unsigned_pdf("a..b"), sidecar("HOSTILE-DOTS", type_="certificate"))
    st_ = d.wait_outcome("a..b")
    assert st_["state"] == "delivered", st_
    names = sorted(p.name for p in d.inbox.iterdir() if p.name.startswith("a..b."))
    assert names == ["a..b.receipt.json", "a..b.receipt.txt", "a..b.signed.pdf",
                     "a..b.status.json"]
    for name in names:
        assert (d.inbox / name).resolve().parent == d.inbox.resolve()
    assert sorted(p.name for p in d.archived() if p.name.startswith("a..b")) == [
        "a..b.pdf", "a..b.signed.pdf", "a..b.yaml"]


RAW_TARGETS = [
    b"/v1/documents/..%2F..%2Fetc%2Fpasswd",
    b"/v1/documents/../x",
    b"/v1/documents/../../../etc/passwd",
    b"/v1/documents/%2e%2e%2f%2e%2e%2fvault.sqlite",
    b"/v1/documents/..",
    b"/v1/documents/vd_..%2F..%2Fvault.sqlite",
]


def test_vault_server_refuses_path_like_ids(tmp_path: Path) -> None:
    with running_vault(tmp_path / "vault") as vp, httpx.Client(timeout=10) as client:
        headers = {"Authorization": f"Bearer {vp.token}"}
        for target in RAW_TARGETS:
            # httpx would normalise "../" away: send the request target as written
            req = client.build_request("GET", f"{vp.base_url}/v1/documents/x", headers=headers,
                                       extensions={"target": target})
            r = client.send(req)
            assert r.status_code == 404, (target, r.status_code, r.text)
            assert r.json()["code"] == "not-found"
            assert b"SQLite" not in r.content and b"root:" not in r.content
        # the server saw the paths as sent, not normalised by the client
        wait_for(lambda: "path=/v1/documents/../x status=404" in vp.log(), 5,
                 "the raw path in the access log", on_fail=vp.log)
