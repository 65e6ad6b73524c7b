"""Render a ModelDoc as one self-contained HTML file, as Markdown, or as JSON."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from registry.files import write_atomic
from registry.modeldoc.build import ModelDoc

Format = Literal["html", "md", "json"]


def _environment(fmt: Format = "html"):
    """HTML escapes every value; Markdown escapes HTML in every value too (a description's
    Markdown stays Markdown, its ``<script>`` becomes text), except inside code spans."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("registry.modeldoc", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_markdown_text if fmt == "md" else None,
    )
    env.filters["num"] = lambda value: "" if value is None else (
        f"{value:.4g}" if isinstance(value, float) else str(value)
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    env.filters["code"] = _code_span
    return env


def _markdown_text(value):
    """A value in Markdown: raw HTML in it is shown as text, never run (code spans pass as they are)."""
    from markupsafe import Markup

    if value is None or isinstance(value, Markup):
        return "" if value is None else value
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code_span(value) -> str:
    """``value`` as a Markdown code span (shown literally), fenced with more backticks than it holds."""
    import re

    from markupsafe import Markup

    text = "" if value is None else str(value)
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{fence}{padding}{text}{padding}{fence}")


def render_modeldoc(doc: ModelDoc, fmt: Format) -> str:
    if fmt == "json":
        return doc.model_dump_json(indent=2, exclude={"plots": {"__all__": {"png_base64"}}})
    template = {"html": "modeldoc.html.j2", "md": "modeldoc.md.j2"}[fmt]
    return _environment(fmt).get_template(template).render(doc=doc, m=doc.model)


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
