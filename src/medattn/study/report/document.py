"""A report as a list of blocks, rendered to one self-contained HTML page and to Markdown; number formats.

Every string that reaches the output passes through this module: ``html.escape`` for HTML and
:func:`markdown_escape` for Markdown, so factor values, class names, file names and error messages from a study
folder can never become markup. The HTML page needs nothing outside itself: inline CSS, no script, images as
base64 ``data:`` URIs, and a Content-Security-Policy that forbids scripts and any request beyond the page.
"""

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

VERDICT_COLOURS = {"better": "#1a9641", "equivalent": "#4f7cac", "worse": "#d7191c", "undecided": "#d99a00"}
"""A comparison's verdict -> its colour: the verdict grid's cells (tinted) and the forest plots' dots."""


class Bold(str):
    """A table cell shown in bold."""


class VerdictCell(str):
    """A table cell holding a number and a verdict (``+0.012 better``): in HTML the verdict goes under the number
    and the cell is coloured by it (class ``verdict-<verdict>``), in Markdown the text is all there is."""

    number: str
    verdict: str

    def __new__(cls, number: str, verdict: str):
        if verdict not in VERDICT_COLOURS:
            raise ValueError(f"not a verdict: {verdict!r}; expected one of {', '.join(VERDICT_COLOURS)}")
        cell = super().__new__(cls, f"{number} {verdict}")
        cell.number, cell.verdict = number, verdict
        return cell


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """``groups``: (label, number of columns) spanning the columns from the left, a header row above theirs in
    HTML, and each column's label prefixed with its group's in Markdown (an empty label adds nothing)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    groups: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Figure:
    """A PNG file in the report folder (next to ``report.md``)."""

    path: Path
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Details:
    """Blocks folded under a title: a ``<details>`` element in HTML, the title and the blocks in Markdown."""

    title: str
    blocks: tuple["Block", ...]


Block = Heading | Paragraph | Bullets | Table | Figure | Details


def _tint(colour: str, share: float = 0.22) -> str:
    """``colour`` (#rrggbb) mixed with white, ``share`` of it kept: a cell background its text stays readable on."""
    channels = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - share * (255 - channel)):02x}" for channel in channels)


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.5rem; }
nav ol { columns: 2; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d0d0; padding: 0.2rem 0.45rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
caption { caption-side: top; text-align: left; font-size: 0.85rem; color: #444; padding-bottom: 0.3rem; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; }
details { margin: 0.5rem 0 1rem; } summary { cursor: pointer; font-weight: 600; }
""" + "".join(
    f".scroll td.verdict-{verdict} {{ background: {_tint(colour)}; box-shadow: inset 3px 0 {colour}; }}\n"
    for verdict, colour in VERDICT_COLOURS.items()
)


def _text(value: str) -> str:
    return " ".join(str(value).split())


def _escape(value: str) -> str:
    """HTML-escaped text on one line (quotes included, so it is safe in attributes too)."""
    return html.escape(_text(value))


def _html_cell(value: str, tag: str) -> str:
    text = _escape(value)
    if isinstance(value, Bold):
        return f"<{tag}><strong>{text}</strong></{tag}>"
    if isinstance(value, VerdictCell):
        verdict = _escape(value.verdict)
        return f'<{tag} class="verdict-{verdict}">{_escape(value.number)}<br>{verdict}</{tag}>'
    return f"<{tag}>{text}</{tag}>"


def _html_table(table: Table) -> str:
    caption = f"<caption>{_escape(table.caption)}</caption>" if table.caption else ""
    groups = "".join(f'<th colspan="{int(span)}">{_escape(label)}</th>' for label, span in table.groups)
    head = (f"<tr>{groups}</tr>" if groups else "") + _html_row(table.columns, "th")
    rows = "".join(_html_row(row, "td") for row in table.rows)
    return f'<div class="scroll"><table>{caption}<thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _html_row(cells: tuple[str, ...], tag: str) -> str:
    return "<tr>" + "".join(_html_cell(cell, tag) for cell in cells) + "</tr>"


def _html_figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    caption = f"<figcaption>{_escape(figure.caption)}</figcaption>" if figure.caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{_escape(figure.alt)}">{caption}</figure>'


def _html_block(block: Block, anchor: str) -> str:
    match block:
        case Heading(text, level):
            return f'<h{level} id="{anchor}">{_escape(text)}</h{level}>'
        case Paragraph(text):
            return f"<p>{_escape(text)}</p>"
        case Bullets(items):
            return "<ul>" + "".join(f"<li>{_escape(item)}</li>" for item in items) + "</ul>"
        case Table():
            return _html_table(block)
        case Figure():
            return _html_figure(block)
        case Details(title, inner):
            body = "".join(_html_block(item, f"{anchor}-{i}") for i, item in enumerate(inner))
            return f"<details><summary>{_escape(title)}</summary>{body}</details>"
    raise TypeError(f"not a report block: {type(block).__name__}")


def render_html(title: str, blocks: list[Block]) -> str:
    """One HTML page: title, a table of contents of the level-2 headings, then the blocks."""
    anchors = [f"s{i}" for i in range(len(blocks))]
    contents = "".join(
        f'<li><a href="#{anchor}">{_escape(block.text)}</a></li>'
        for block, anchor in zip(blocks, anchors, strict=True)
        if isinstance(block, Heading) and block.level == 2
    )
    body = "\n".join(_html_block(block, anchor) for block, anchor in zip(blocks, anchors, strict=True))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main><h1>{_escape(title)}</h1><nav><ol>{contents}</ol></nav>\n{body}\n</main></body></html>\n"
    )


_ALWAYS = re.compile(r"([\\`|])")  # backslash, code spans, table cells
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # raw HTML and autolinks; '< 0.001' stays as it is
_LINK_MIDDLE = re.compile(r"\](?=[(\[])")  # [text](url) and [text][ref]
_EMPHASIS = re.compile(r"[*_]+")
_BLOCK_START = re.compile(r"^(#{1,6}|[-+*]|\d{1,9}[.)])(?=\s|$)|^>")  # heading, list item, quote


def _emphasis(match: re.Match, strict: bool) -> str:
    """Escape a run of * or _ unless it cannot open or close emphasis: whitespace (or the text's end) on both
    sides, or underscores inside a word (CommonMark never emphasises those)."""
    text, start, end = match.string, match.start(), match.end()
    isolated = (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace())
    inside_word = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    if (isolated and not strict) or (inside_word and set(match.group()) == {"_"}):
        return match.group()
    return "".join("\\" + char for char in match.group())


def markdown_escape(value: str, *, strict: bool = False) -> str:
    """Literal Markdown text on one line: data can make no emphasis, code, link, HTML or table cell.

    Only what could form markup is escaped, so the file stays readable: ``auc_roc``, ``P(A>B)``, ``< 0.001`` and
    a lone ``**`` mark stay as they are; ``<script>`` becomes ``\\<script>`` (shown literally). ``strict``
    escapes every ``*`` (text that will itself sit inside ``**bold**``).
    """
    text = _ALWAYS.sub(r"\\\1", _text(value))
    text = _TAG_START.sub(r"\\<", text)
    text = _LINK_MIDDLE.sub(r"\\]", text)
    return _EMPHASIS.sub(lambda match: _emphasis(match, strict), text)


def _markdown_line(value: str) -> str:
    """Escaped text that starts a line (paragraph, list item): no heading, quote or list marker either."""
    return _BLOCK_START.sub(lambda match: match.group()[:-1] + "\\" + match.group()[-1], markdown_escape(value))


def _markdown_cell(value: str) -> str:
    if isinstance(value, Bold) and value.strip():
        return f"**{markdown_escape(value, strict=True)}**"
    return markdown_escape(value)


def _grouped_columns(table: Table) -> tuple[str, ...]:
    """The columns' labels with their group's in front (``test: auc_roc``), for Markdown's single header row."""
    labels = [label for label, span in table.groups for _ in range(span)]
    labels += [""] * (len(table.columns) - len(labels))
    return tuple(f"{group}: {column}" if group else column for group, column in zip(labels, table.columns, strict=True))


def _markdown_table(table: Table) -> str:
    lines = [f"Table: {markdown_escape(table.caption)}", ""] if table.caption else []
    lines.append("| " + " | ".join(_markdown_cell(column) for column in _grouped_columns(table)) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _markdown_block(block: Block) -> str:
    match block:
        case Heading(text, level):
            return f"{'#' * level} {markdown_escape(text)}"
        case Paragraph(text):
            return _markdown_line(text)
        case Bullets(items):
            return "\n".join(f"- {_markdown_line(item)}" for item in items)
        case Table():
            return _markdown_table(block)
        case Figure(path, alt, caption):
            image = f"![{markdown_escape(alt, strict=True)}]({path.name})"
            return f"{image}\n\n{_markdown_line(caption)}" if caption else image
        case Details(title, inner):
            return "\n\n".join([f"**{markdown_escape(title, strict=True)}**", *map(_markdown_block, inner)])
    raise TypeError(f"not a report block: {type(block).__name__}")


def render_markdown(title: str, blocks: list[Block]) -> str:
    """The same report as Markdown; figures are linked by file name (they sit next to the ``.md`` file)."""
    return "\n\n".join([f"# {markdown_escape(title)}", *(_markdown_block(block) for block in blocks)]) + "\n"


def number(value, digits: int = 3) -> str:
    """A number with ``digits`` decimals; ``n/a`` for None or NaN."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def signed(value) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.3f}"


def p_text(value) -> str:
    return "n/a" if value is None or math.isnan(value) else "< 0.001" if value < 0.001 else f"{value:.3f}"


def mean_std(mean: float, std: float) -> str:
    return number(mean) if std is None or math.isnan(std) else f"{number(mean)} ± {number(std)}"


def interval(low, high) -> str:
    return "n/a" if low is None or high is None else f"[{number(low)}, {number(high)}]"


def compact(value) -> str:
    """Large counts as 11.18 M / 1.80 G."""
    if value is None or math.isnan(value):
        return "n/a"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"
