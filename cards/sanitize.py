"""Sanitizing section text for HTML: the allow-list matches what the editor (Trix) writes."""

import functools
import html
import re

import bleach
import lxml.html

# Exactly what the editor writes with the buttons it shows (static/css/app.css hides the
# others): paragraphs (Trix writes <div>), bold, italic, lists and line breaks; <p>, <b> and
# <i> come from text pasted from Word or a browser. No attribute is kept: none of these
# tags needs one, and links, styles and event handlers are how markup turns into code.
ALLOWED_TAGS = frozenset({"div", "p", "br", "strong", "b", "em", "i", "ul", "ol", "li"})
ALLOWED_ATTRIBUTES: dict[str, list[str]] = {}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# XML 1.0 forbids these; Word and lxml refuse them, browsers show garbage.
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_ODD_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_BULLET = re.compile(r"^[-•*]\s+")
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]")


def clean_text(value: str) -> str:
    """Plain text with control characters removed and odd whitespace normalised."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    value = _ILLEGAL_CHARS.sub("", value)
    value = _INVISIBLE.sub("", value)
    return _ODD_SPACES.sub(" ", value)


def sanitize_html(value: str) -> str:
    """Keep only the editor's tags; everything else is stripped (its text kept, scripts dropped)."""
    value = clean_text(value)
    # bleach keeps the text of stripped tags; for script/style that text is code, drop it whole.
    value = re.sub(
        r"(?is)<(script|style|template|iframe|object|svg|math|noscript|textarea|title)\b.*?</\1\s*>", "", value
    )
    return bleach.clean(
        value,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
    ).strip()


def text_to_html(value: str) -> str:
    """Turn plain text (a model's or the offline draft's) into the editor's HTML.

    Blank lines separate paragraphs; lines starting with "- " or "• " become a bullet
    list; every character is escaped, so model output can never inject markup.
    """
    blocks = [b for b in re.split(r"\n\s*\n", clean_text(value).strip()) if b.strip()]
    parts: list[str] = []
    for block in blocks:
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if lines and all(_BULLET.match(line) for line in lines):
            items = "".join(f"<li>{html.escape(_BULLET.sub('', line))}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append("<div>" + "<br>".join(html.escape(line) for line in lines) + "</div>")
    return "".join(parts)


# Opening tags of block elements: a line break, as the closing ones (so "a<div>b</div>c"
# reads "a / b / c").
_BLOCK_OPEN = re.compile(
    r"(?i)<(?:address|article|aside|blockquote|dd|details|div|dl|dt|figcaption|figure|footer|form|h[1-6]"
    r"|header|hr|main|nav|ol|p|pre|section|table|ul)(?=[\s/>])[^>]*>"
)


@functools.lru_cache(maxsize=4096)
def html_to_text(value: str) -> str:
    """Plain text of sanitized HTML, for prompts and word counts.

    Called for every section of a batch on each batch and project page (quality, similar
    cards), so it is memoised (a pure function of the text) and parses with lxml's C parser:
    bleach's html5lib tokenizer took ~1.5 ms per section, most of a batch page's time.
    """
    value = value.replace("\x00", "")
    value = re.sub(r"(?i)<br\s*/?>", "\n", value)
    value = re.sub(r"(?i)<li[^>]*>", "- ", value)
    value = re.sub(r"(?i)</(p|div|li|h1|blockquote|pre|ul|ol)>", "\n", value)
    value = _BLOCK_OPEN.sub("\n", value)
    if not value.strip():
        return ""
    # text_content() decodes entities; comments, CDATA and tags are dropped.
    value = lxml.html.fragment_fromstring(value, create_parent="div").text_content()
    return re.sub(r"\n{3,}", "\n\n", value).strip()
