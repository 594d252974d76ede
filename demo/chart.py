"""``--chart PATH``: the demo's two tables as one SVG image, written with no plotting library.

Left, requests/s answered correctly under the ASGI load, per configuration
(yellow: some requests failed; red: some got another request's result);
right, the fork scenario's answers split into correct, failed and wrong.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from demo.runs import Measured

_GOOD, _FAILED, _WRONG, _INK, _GRID = "#2a9d8f", "#e9c46a", "#e63946", "#222", "#ddd"
_ROW, _LABEL, _BAR = 34, 250, 300


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{_INK}">{escape(text, quote=False)}</text>'
    )


def _rect(x: float, y: float, width: float, height: float, colour: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{height}" '
        f'fill="{colour}"/>'
    )


def _asgi_panel(rows: list[Measured], left: float, top: float) -> list[str]:
    out = [_text(left, top, "ASGI load: requests/s answered correctly", size=14)]
    most = max((r.requests_per_second for r in rows), default=0) or 1
    for i, row in enumerate(rows):
        y = top + 20 + i * _ROW
        colour = _WRONG if row.load.wrong else _FAILED if row.load.failed else _GOOD
        width = _BAR * row.requests_per_second / most
        out.append(_text(left + _LABEL - 8, y + 17, row.config.label, anchor="end"))
        out.append(_rect(left + _LABEL, y + 4, width, 20, colour))
        note = f"{row.requests_per_second:,.0f}/s"
        if row.load.failed:
            note += f", {row.load.failed:,} failed"
        if row.load.wrong:
            note += f", {row.load.wrong:,} wrong"
        out.append(_text(left + _LABEL + width + 6, y + 18, note, size=11))
    return out


def _fork_panel(rows: list[Measured], left: float, top: float) -> list[str]:
    out = [_text(left, top, "gunicorn --preload: every answer its own?", size=14)]
    for i, row in enumerate(rows):
        y = top + 20 + i * _ROW
        load = row.load
        correct, wrong = load.ok - load.wrong, load.wrong
        total = correct + wrong + load.failed or 1
        x = left + _LABEL
        out.append(_text(x - 8, y + 17, row.config.label, anchor="end"))
        for count, colour in ((correct, _GOOD), (load.failed, _FAILED), (wrong, _WRONG)):
            width = _BAR * count / total
            out.append(_rect(x, y + 4, width, 20, colour))
            x += width
        out.append(
            _text(
                left + _LABEL + _BAR + 6,
                y + 18,
                f"{correct:,} ok, {load.failed:,} failed, {wrong:,} wrong",
                size=11,
            )
        )
    return out


def write_chart(path: Path, asgi: list[Measured], fork: list[Measured], title: str) -> None:
    panel_width = _LABEL + _BAR + 170
    height = 60 + max(len(asgi), len(fork), 1) * _ROW + 40
    width = 20 + panel_width * (2 if fork else 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">',
        _rect(0, 0, width, height, "#fff"),
        _text(10, 22, title, size=13),
        *_asgi_panel(asgi, 10, 52),
    ]
    if fork:
        parts += _fork_panel(fork, 10 + panel_width, 52)
    legend_y = height - 14
    for i, (colour, name) in enumerate(
        ((_GOOD, "correct"), (_FAILED, "failed"), (_WRONG, "another request's result"))
    ):
        parts.append(_rect(10 + i * 200, legend_y - 10, 12, 12, colour))
        parts.append(_text(28 + i * 200, legend_y, name, size=11))
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
