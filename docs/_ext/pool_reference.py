"""The configuration reference, read from ``PoolConfig`` so that it cannot drift.

Everything the reference says about an option comes from its field in
``django_multipool/config.py``:

- the ``#:`` comment above the field: what the option means;
- the annotation: its type (``Literal`` values spelt out);
- the default (or ``default_factory()``);
- ``metadata["unit"]`` and ``metadata["edge"]``: the unit, and what happens
  at and beyond the edges (bounds, ``None``, what is refused, what a limit
  triggers).

No Sphinx here: ``tests/unit/test_docs_reference.py`` imports this module to
fail when a field lacks any of these, and ``multipool_docs.py`` (the Sphinx
extension) renders :func:`render_summary` and :func:`render_sections`
into the page.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REQUIRED_METADATA",
    "OptionDoc",
    "missing_documentation",
    "options",
    "render_sections",
    "render_summary",
]

#: Field metadata every option must carry.
REQUIRED_METADATA = ("unit", "edge")


@dataclasses.dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str
    default: str
    unit: str
    edge: str
    meaning: str


def doc_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines directly above each annotated field of ``cls``, joined."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    (class_def,) = ast.parse(source).body
    assert isinstance(class_def, ast.ClassDef)
    comments: dict[str, str] = {}
    for node in class_def.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        index = node.lineno - 2  # the line above, 0-based
        while index >= 0 and lines[index].strip().startswith("#:"):
            above.insert(0, lines[index].strip()[2:].strip())
            index -= 1
        if above:
            comments[node.target.id] = " ".join(above)
    return comments


def missing_documentation(cls: type) -> list[str]:
    """What the reference would lack for ``cls``: one line per missing piece."""
    comments = doc_comments(cls)
    problems = []
    for field in dataclasses.fields(cls):
        if not comments.get(field.name):
            problems.append(f"{field.name}: no '#:' comment above the field")
        for key in REQUIRED_METADATA:
            if not str(field.metadata.get(key, "")).strip():
                problems.append(f"{field.name}: no metadata[{key!r}]")
    return problems


def options(cls: type) -> list[OptionDoc]:
    """One entry per field of ``cls``, in declaration order."""
    comments = doc_comments(cls)
    hints = typing.get_type_hints(cls)
    docs = []
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            raise ValueError(f"{cls.__name__}.{field.name} has no default")
        docs.append(
            OptionDoc(
                name=field.name,
                type=format_type(hints[field.name]),
                default=format_value(default),
                unit=str(field.metadata.get("unit", "")),
                edge=str(field.metadata.get("edge", "")),
                meaning=rst_to_markdown(comments.get(field.name, "")),
            )
        )
    return docs


def format_type(hint: Any) -> str:
    """A type as a settings author writes values: ``float | None``, ``"a" | "b"``."""
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return " | ".join(format_value(value) for value in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(format_type(arg) for arg in typing.get_args(hint))
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return "dict"
    return str(getattr(hint, "__name__", hint))


def format_value(value: Any) -> str:
    """A value as it would be written in settings (double-quoted strings)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        items = (f"{format_value(k)}: {format_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(value)


def rst_to_markdown(text: str) -> str:
    """The inline reST of a ``#:`` comment (``x``, :class:`X`) as Markdown."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def anchor(name: str) -> str:
    """The label of an option's section: link to it as ``configuration.md#pool-<name>``."""
    return f"pool-{name}"


def render_summary(cls: type) -> str:
    """One table row per option, each linking to its section."""
    out = [
        "| option | type | default | unit | meaning |",
        "|---|---|---|---|---|",
    ]
    for doc in options(cls):
        out.append(
            f"| [`{doc.name}`](#{anchor(doc.name)}) | `{_cell(doc.type)}` | "
            f"`{_cell(doc.default)}` | {_cell(doc.unit)} | {_cell(doc.meaning)} |"
        )
    return "\n".join(out) + "\n"


def render_sections(cls: type, heading: str = "###") -> str:
    """One section per option: meaning, type, default, unit and edges."""
    out: list[str] = []
    for doc in options(cls):
        out += [
            f"({anchor(doc.name)})=",
            f"{heading} `{doc.name}`",
            "",
            doc.meaning,
            "",
            f"- **Type:** `{doc.type}`",
            f"- **Default:** `{doc.default}`",
            f"- **Unit:** {doc.unit}",
            f"- **Edges:** {doc.edge}",
            "",
        ]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
