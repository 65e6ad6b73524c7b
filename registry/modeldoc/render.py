"""Render a ModelDoc as one self-contained HTML file, as Markdown, or as JSON."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from registry.files import write_atomic
from registry.modeldoc.build import ModelDoc

Format = Literal["html", "md", "json"]


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("registry.modeldoc", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda value: "" if value is None else (
        f"{value:.4g}" if isinstance(value, float) else str(value)
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    return env


def render_modeldoc(doc: ModelDoc, fmt: Format) -> str:
    if fmt == "json":
        return doc.model_dump_json(indent=2, exclude={"plots": {"__all__": {"png_base64"}}})
    template = {"html": "modeldoc.html.j2", "md": "modeldoc.md.j2"}[fmt]
    return _environment().get_template(template).render(doc=doc, m=doc.model)


def write_modeldoc(doc: ModelDoc, fmt: Format, output: Path) -> list[Path]:
    """Write atomically; Markdown gets its plots beside it in ``plots/``."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    written = [write_atomic(output, render_modeldoc(doc, fmt).encode())]
    if fmt == "md":
        for plot in doc.plots:
            target = output.parent / "plots" / f"{plot.name}.png"
            target.parent.mkdir(exist_ok=True)
            written.append(write_atomic(target, base64.b64decode(plot.png_base64)))
    return written
