"""The configuration reference in the docs is generated from PoolConfig.

docs/_ext/pool_reference.py reads each field's ``#:`` comment, type, default
and ``metadata["unit"]`` / ``metadata["edge"]``. These tests fail when an
option lacks any of them, so a new key cannot ship undocumented. The
statistics table is generated too: tests/unit/test_metrics_table.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from django_multipool import PoolConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and inspect look modules up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return _load(DOCS / "_ext" / "pool_reference.py", "multipool_pool_reference")


def test_every_option_has_meaning_unit_and_edges(reference: ModuleType) -> None:
    assert reference.missing_documentation(PoolConfig) == []


def test_summary_has_one_row_per_option_with_its_real_default(reference: ModuleType) -> None:
    rows = reference.render_summary(PoolConfig).splitlines()[2:]
    names = [re.match(r"\| \[`(\w+)`\]", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert names == list(PoolConfig.keys())
    defaults = PoolConfig()
    for name, row in zip(names, rows, strict=True):
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[2] == f"`{reference.format_value(getattr(defaults, name))}`", name


def test_sections_show_type_default_unit_and_edges(reference: ModuleType) -> None:
    text = reference.render_sections(PoolConfig)
    for field in dataclasses.fields(PoolConfig):
        section = text.split(f"### `{field.name}`", 1)[1].split("\n### ", 1)[0]
        assert f"**Unit:** {field.metadata['unit']}" in section
        assert f"**Edges:** {field.metadata['edge']}" in section
        assert "**Type:** `" in section and "**Default:** `" in section


def test_types_read_as_settings_are_written(reference: ModuleType) -> None:
    types = {doc.name: doc.type for doc in reference.options(PoolConfig)}
    assert types["max_lifetime"] == "float | None"
    assert types["reset"] == '"rollback" | "session"'
    assert types["driver_options"] == "dict"
    assert types["configure"] == "Callable | str | None"


def test_a_field_without_documentation_is_reported(reference: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "undocumented_config.py"
    source.write_text(
        textwrap.dedent(
            """
            import dataclasses

            @dataclasses.dataclass(frozen=True)
            class Config:
                #: Documented.
                good: int = dataclasses.field(
                    default=1, metadata={"unit": "s", "edge": "at least 1"}
                )
                no_comment: int = dataclasses.field(
                    default=1, metadata={"unit": "s", "edge": "at least 1"}
                )
                #: No metadata at all.
                bare: int = 2
            """
        )
    )
    module = _load(source, "multipool_undocumented_config")
    assert reference.missing_documentation(module.Config) == [
        "no_comment: no '#:' comment above the field",
        "bare: no metadata['unit']",
        "bare: no metadata['edge']",
    ]
