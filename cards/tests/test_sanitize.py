"""The section sanitizer against an XSS corpus: nothing executable survives, the editor's formatting does."""

import html

import pytest
from lxml import html as lxml_html

from cards.sanitize import ALLOWED_TAGS, clean_text, html_to_text, sanitize_html, text_to_html

CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script>alert(1)",  # never closed
    "<img src=x onerror=alert(1)>",
    '<div onclick="alert(1)">klik</div>',
    '<div onmouseover=alert(1) style="background:url(javascript:alert(1))">x</div>',
    '<a href="javascript:alert(1)">link</a>',
    '<a href="JaVaScRiPt:alert(1)">link</a>',
    '<a href="&#106;avascript:alert(1)">link</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">link</a>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>body{background:url(javascript:alert(1))}</style>tekst",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:/">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    "<details open ontoggle=alert(1)>",
    '<div style="width: expression(alert(1))">x</div>',
    "<<img src=x onerror=alert(1)//<",
    "<img/src=x/onerror=alert(1)>",
    '<img src="x" onerror\t=alert(1)>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    "<textarea><script>alert(1)</script></textarea>",
    "<div><b><i><u>nested <strong onclick=x>deep</strong></u></i></b></div>",
    "<ul><li onclick=x>one<li>two</ul>",
    "</div></div></div><script>alert(1)</script>",
    "\x00<scr\x00ipt>alert(1)</script>",
]

EVENT_ATTRIBUTE_PREFIX = "on"


def _elements(fragment: str):
    root = lxml_html.fragment_fromstring(fragment or "<div></div>", create_parent="div")
    return list(root.iter())[1:]


@pytest.mark.parametrize("payload", CORPUS)
def test_nothing_executable_survives(payload):
    cleaned = sanitize_html(payload)

    for element in _elements(cleaned):
        assert element.tag in ALLOWED_TAGS, (payload, cleaned)
        assert not element.attrib, (payload, cleaned)  # no href, style or on* at all
    lowered = html.unescape(cleaned).lower()
    assert "<script" not in cleaned.lower() and "<svg" not in cleaned.lower()
    assert "javascript:" not in "".join(e.get("href", "") for e in _elements(cleaned))
    # What the browser gets back as markup: re-parsing the output gives the same output.
    assert sanitize_html(cleaned) == cleaned
    assert "\x00" not in lowered


def test_script_and_style_bodies_are_dropped_not_shown_as_text():
    cleaned = sanitize_html("<div>Przed<script>alert(1)</script><style>p{}</style>po</div>")
    assert cleaned == "<div>Przedpo</div>"


@pytest.mark.parametrize(
    "editor_html",
    [
        "<div>Akapit pierwszy</div><div>Akapit <strong>pogrubiony</strong> i <em>kursywa</em></div>",
        "<div>Linia 1<br>Linia 2</div>",
        "<ul><li>punkt 1</li><li>punkt 2</li></ul>",
        "<ol><li>krok 1</li><li>krok 2</li></ol>",
        "<p>Akapit wklejony z Worda z <b>pogrubieniem</b> i <i>kursywą</i></p>",
    ],
)
def test_the_editors_formatting_survives_unchanged(editor_html):
    assert sanitize_html(editor_html) == editor_html


def test_tags_the_editor_does_not_offer_keep_their_text_only():
    cleaned = sanitize_html(
        '<h1>Tytuł</h1><blockquote>cytat</blockquote><a href="https://example.com">link</a><del>x</del>'
    )
    assert "<" not in cleaned and cleaned.split() == ["Tytuł", "cytatlinkx"]


def test_text_with_angle_brackets_stays_text():
    cleaned = sanitize_html("<div>Wynik: 3 < 5 i 7 > 2 &amp; więcej</div>")
    assert "&lt;" in cleaned and "&gt;" in cleaned
    assert html_to_text(cleaned) == "Wynik: 3 < 5 i 7 > 2 & więcej"


def test_model_text_is_escaped_before_it_becomes_html():
    assert "<script" not in text_to_html("Opis <script>alert(1)</script>\n\n- punkt <b>x</b>")
    assert text_to_html("a <b>\n\n- x\n- y") == "<div>a &lt;b&gt;</div><ul><li>x</li><li>y</li></ul>"


def test_control_characters_and_odd_spaces_are_cleaned():
    assert clean_text("a\x00b\x1fc\u00a0d\u200be\r\nf") == "abc de\nf"
