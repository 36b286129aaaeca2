"""The file page's summaries in their shapes: what the Summaries section needs beyond the summaries themselves.

A Markdown summary is the model's text, so it is never trusted as HTML: every character is escaped first, and only
a small subset is then turned into markup (headings, bulleted and numbered lists, bold, italic, inline code,
paragraphs). Anything else, a <script> or an HTML attribute included, shows as the text it is. A JSON summary is
rendered by the template as nested lists with autoescape; the BLUF fields as before.
"""

from __future__ import annotations

import re
from typing import Any, Final

from markupsafe import Markup, escape

from asr.languages import BY_NAME
from repo.media_files import FileDetail
from repo.summaries import Summary
from web.ui.render import View

HEADING: Final = re.compile(r"^(#{1,6})\s+(.*)$")
BULLET: Final = re.compile(r"^\s*[-*+]\s+(.*)$")
NUMBERED: Final = re.compile(r"^\s*\d{1,3}[.)]\s+(.*)$")
INLINE: Final = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"__(?=\S)(.+?)(?<=\S)__"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?![*\w])"), r"<em>\1</em>"),
    (re.compile(r"(?<![_\w])_(?=\S)(.+?)(?<=\S)_(?![_\w])"), r"<em>\1</em>"),
)
HEADING_OFFSET: Final = 2  # the section's own heading is an h2, each summary's sits under it


def panel(view: View, file: FileDetail, summaries: list[Summary]) -> dict[str, Any]:
    """The Markdown summaries as safe HTML, and the languages a summary may be requested in."""
    return {
        "summary_markdown": {s.uuid: markdown_html(s.markdown) for s in summaries if s.markdown},
        "summary_languages": sorted(((code, name.title()) for name, code in BY_NAME.items()), key=lambda p: p[1]),
        "summary_language_default": file.language,
    }


def markdown_html(text: str) -> Markup:
    """`text` escaped, then the Markdown subset of the module docstring made markup."""
    out: list[str] = []
    paragraph: list[str] = []
    list_kind: str | None = None

    def close_paragraph() -> None:
        if paragraph:
            out.append(f"<p>{'<br>'.join(paragraph)}</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = None

    for raw in text.splitlines():
        line = _inline(str(escape(raw.rstrip())))
        heading, bullet, numbered = HEADING.match(line), BULLET.match(line), NUMBERED.match(line)
        if not line.strip():
            close_paragraph()
            close_list()
        elif heading:
            close_paragraph()
            close_list()
            level = min(6, len(heading.group(1)) + HEADING_OFFSET)
            out.append(f"<h{level}>{heading.group(2)}</h{level}>")
        elif bullet or numbered:
            close_paragraph()
            kind = "ul" if bullet else "ol"
            if list_kind != kind:
                close_list()
                out.append(f"<{kind}>")
                list_kind = kind
            item = bullet or numbered
            assert item is not None
            out.append(f"<li>{item.group(1)}</li>")
        else:
            close_list()
            paragraph.append(line.strip())
    close_paragraph()
    close_list()
    return Markup("\n".join(out))  # every piece was escaped above; only our own tags were added


def _inline(escaped: str) -> str:
    for pattern, replacement in INLINE:
        escaped = pattern.sub(replacement, escaped)
    return escaped
