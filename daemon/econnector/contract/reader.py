"""Reading a sidecar's text into plain data, safely: strict YAML 1.1 and JSON.

YAML without anchors, aliases, tags, merge keys or duplicate keys; plain
scalars that YAML 1.1 and 1.2 read differently (``no``, ``0123``,
``2026-11-25``) kept as :class:`Ambiguous` for validation to refuse; nesting
and lone surrogates bounded. Every failure is a
:class:`~econnector.errors.SidecarError` whose detail names the problem and
its position but never quotes the document (it holds personal data, and
messages end up in logs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from ..errors import SidecarError
from .document import MAX_DEPTH
from .filenames import Format

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Ambiguous:
    """A plain YAML scalar that YAML 1.1 reads as non-text but other readers may not.

    ``no``, ``2026-11-25``, ``0123`` or ``10:15`` mean a boolean, a date, an
    octal or a base-60 number to YAML 1.1 and text to YAML 1.2. Neither
    reading is safe to guess, so validation refuses them with ``field-type``
    (except ``issued_at``, which takes the text as written).
    """

    text: str
    reading: str


_STR_TAG = "tag:yaml.org,2002:str"
_AMBIGUOUS = "tag:econnector,2026:ambiguous:"
# Plain scalars that YAML 1.1 and 1.2 read the same way; other non-text ones are traps.
_AGREED = {
    "tag:yaml.org,2002:null": re.compile(r".*", re.S),
    "tag:yaml.org,2002:bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
    "tag:yaml.org,2002:int": re.compile(r"[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+"),
    "tag:yaml.org,2002:float": re.compile(r"[^_:]*"),
}
_READINGS = {
    "bool": "a yes/no boolean",
    "int": "an octal, binary or base-60 number",
    "float": "a base-60 number",
    "timestamp": "a date or time",
    "merge": "a merge key",
    "value": "a special value",
}


def _at(event: NodeEvent | Node) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _yaml_feature(detail: str) -> SidecarError:
    return SidecarError("sidecar-yaml-feature", detail=detail)


def _syntax(fmt: Format, detail: str) -> SidecarError:
    return SidecarError("sidecar-syntax", format=fmt.upper(), detail=detail)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases, tags, merge keys or duplicate keys.

    Aliases are refused while composing, before anything is expanded, so a
    billion-laughs document costs one event. Nesting is bounded before the
    recursive composer can exhaust the stack. Keys are always the key's text.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _yaml_feature(f"an alias (*name){_at(event)}")
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _yaml_feature(f"an anchor (&name){_at(event)}")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _yaml_feature(f"a tag ({clip(str(tag))}){_at(event)}")
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _syntax("yaml", f"nested deeper than {MAX_DEPTH} levels{_at(event)}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is ScalarNode and implicit[0] and tag != _STR_TAG:
            agreed = _AGREED.get(tag)
            if agreed is None or not agreed.fullmatch(value):
                return _AMBIGUOUS + tag.rsplit(":", 1)[-1]
        return tag

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _yaml_feature(f"a list or mapping used as a key{_at(key_node)}")
            key = key_node.value
            if key == "<<" and key_node.style is None:
                raise _yaml_feature(f"a merge key (<<){_at(key_node)}")
            if key in mapping:
                raise _syntax("yaml", f"duplicate key {show(key)}{_at(key_node)}")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _construct_ambiguous(loader: yaml.SafeLoader, suffix: str, node: Node) -> Ambiguous:
    return Ambiguous(str(node.value), _READINGS.get(suffix, "a non-text value"))


_StrictLoader.add_multi_constructor(_AMBIGUOUS, _construct_ambiguous)


def _load_yaml(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _syntax("json", f"duplicate key {show(key)}")
        out[key] = value
    return out


def _json_constant(name: str) -> Any:
    raise _syntax("json", f"{name} is not a JSON number")


def read(text: str, fmt: Format) -> Any:
    """Parse text into plain data; any failure becomes a SidecarError.

    Details name the problem and its position but never quote the document:
    the sidecar holds personal data and error messages end up in logs.
    """
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        return _load_yaml(text)
    except SidecarError:
        raise
    except json.JSONDecodeError as e:
        raise _syntax(fmt, f"{e.msg} (line {e.lineno}, column {e.colno})") from None
    except yaml.MarkedYAMLError as e:
        raise _syntax(fmt, f"{e.problem or e.context or 'invalid'}{_at_mark(e)}") from None
    except yaml.reader.ReaderError as e:
        raise _syntax(fmt, f"{e.reason} (character {e.position + 1})") from None
    except RecursionError:
        raise _syntax(fmt, "nested too deeply") from None
    except Exception as e:  # the parser libraries may raise anything for hostile input
        raise _syntax(fmt, f"unreadable ({type(e).__name__})") from None


def _at_mark(e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark or e.context_mark
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def check_tree(root: Any, fmt: Format) -> None:
    """Bound nesting and refuse lone surrogates (JSON ``\\ud800`` escapes) everywhere."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > MAX_DEPTH:
                raise _syntax(fmt, f"nested deeper than {MAX_DEPTH} levels")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise SidecarError("sidecar-encoding")
                stack.append((value, depth))
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise SidecarError("sidecar-encoding")


def clip(text: str, limit: int = 40) -> str:
    """Vendor text made safe for one log line: escaped controls, bounded length."""
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])
    return out + "…" if len(text) > limit else out


def show(value: Any) -> str:
    """A short rendering of a vendor value for messages that do not quote it."""
    if isinstance(value, str):
        return f'"{clip(value)}"'
    if isinstance(value, Ambiguous):
        return clip(value.text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return clip(repr(value))
    return "a list" if isinstance(value, list) else "a mapping"
