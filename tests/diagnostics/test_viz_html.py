"""The cells page: self-contained, escaped, and working in a headless Chromium."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.vocab import CharVocab
from rnnlab.diagnostics.features import builtin_features
from rnnlab.diagnostics.html import page_data, render_page, write_cells_page
from rnnlab.diagnostics.record import CellRecorder, record
from rnnlab.diagnostics.search import search_units
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the text tries everything that could break a page: markup, entities, a script end tag,
# an HTML comment opener, tabs, newlines, a character outside the BMP
TEXT = (
    'if (a < b && c > d) { s = "</script><b>x</b>"; }\n'
    "\t<!-- &amp; &lt; ' \" -->\n"
    "Upper CASE 😀 é\n" * 3
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    model = CharLM(len(vocab), CharLMConfig(cell="lstm", layers=2, hidden=6, embed_dim=4)).eval()
    rec = record(model, vocab.encode(TEXT), top_k=5)
    result = search_units(builtin_features(TEXT), rec.values, top=2)
    path = tmp_path_factory.mktemp("page") / "cells.html"
    write_cells_page(
        path,
        rec,
        TEXT,
        vocab=vocab.chars,
        ranges=CellRecorder(model).ranges(),
        hits=result.hits,
        skipped=list(result.skipped),
        initial=(0, "h", 0),
        title="cells <test> & more",
        summary="a summary",
    )
    return path, result


def test_page_is_self_contained(page):
    path, _ = page
    html = path.read_text("utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|url\(|<iframe|<img", html)
    assert html.count("</script>") == 2  # the data's and the code's own end tags only
    assert "<title>cells &lt;test&gt; &amp; more</title>" in html


def test_page_data_rejects_a_text_that_does_not_match_the_recording(page):
    vocab = CharVocab.from_text("abc")
    model = CharLM(3, CharLMConfig(cell="gru", layers=1, hidden=4, embed_dim=2)).eval()
    rec = record(model, vocab.encode("abcab"))
    ranges = CellRecorder(model).ranges()
    with pytest.raises(InputError, match="5 steps"):
        page_data(rec, "abc", vocab=vocab.chars, ranges=ranges)
    with pytest.raises(InputError, match=r"unit 4 is out of range: z has units 0\.\.3"):
        page_data(rec, "abcab", vocab=vocab.chars, ranges=ranges, initial=(0, "z", 4))
    html = render_page(page_data(rec, "abcab", vocab=vocab.chars, ranges=ranges))
    assert '"top":null' in html and '"hits":[]' in html


def _browser():
    """A headless Chromium driven by playwright, or a skip saying what to install."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("needs the playwright package (pip install playwright; no browser download)")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"needs a headless Chromium at {CHROMIUM}: apt-get install chromium")
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser()
    with sync_playwright() as p:
        exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def opened(page, browser):
    """The page opened from its file; console messages, page errors and requests recorded."""
    path, result = page
    tab = browser.new_page(viewport={"width": 1200, "height": 800})
    log = {"console": [], "errors": [], "requests": []}
    tab.on("console", lambda m: log["console"].append((m.type, m.text)))
    tab.on("pageerror", lambda e: log["errors"].append(str(e)))
    tab.on("request", lambda r: log["requests"].append(r.url))
    tab.goto(path.resolve().as_uri())
    tab.wait_for_selector("#text span")
    yield tab, log, result
    tab.close()


def colours(tab):
    return tab.eval_on_selector_all(
        "#text span", "spans => spans.map(s => s.style.backgroundColor)"
    )


def test_page_opens_without_errors_or_network_and_shows_the_text_verbatim(opened):
    tab, log, _ = opened
    assert log["errors"] == []
    assert [m for m in log["console"] if m[0] in ("error", "warning")] == []
    assert all(url.startswith("file://") for url in log["requests"]), log["requests"]
    assert tab.text_content("#text") == TEXT  # markup shown as text, nothing parsed
    assert tab.locator("#text span").count() == len(TEXT)  # one per code point
    assert tab.locator("#text b").count() == 0
    assert tab.text_content("#title") == "cells <test> & more"


def test_unit_selector_changes_the_colouring(opened):
    tab, log, _ = opened
    before = colours(tab)
    assert len(set(before)) > 5  # unit 0 of layer 0's h varies over the text
    tab.fill("#unit", "3")
    tab.dispatch_event("#unit", "change")
    after = colours(tab)
    assert sum(a != b for a, b in zip(before, after, strict=True)) > len(TEXT) // 4
    tab.select_option("#quantity", "f")
    gates = colours(tab)
    assert gates != after and all(g.startswith("rgb(") for g in gates)
    tab.select_option("#layer", "1")
    assert colours(tab) != gates
    assert tab.evaluate("location.hash") == "#layer=1&quantity=f&unit=3"
    tab.fill("#unit", "99")
    tab.dispatch_event("#unit", "change")
    assert "out of range 0..5" in tab.text_content("#unit-note")
    assert tab.input_value("#unit") == "5"
    assert log["errors"] == []


def test_found_units_are_links_that_select_them(opened):
    tab, log, result = opened
    links = tab.locator("#hits a")
    assert links.count() == len(result.hits) > 0
    hit = result.hits[-1]
    links.nth(len(result.hits) - 1).click()
    assert tab.input_value("#layer") == str(hit.layer)
    assert tab.input_value("#quantity") == hit.quantity
    assert tab.input_value("#unit") == str(hit.unit)
    assert tab.locator("#hits tr.current").count() >= 1
    assert log["errors"] == []


def test_hover_shows_the_top_five_next_character_predictions(opened):
    tab, log, _ = opened
    assert tab.is_hidden("#tip")
    tab.hover("#text span >> nth=3")
    assert tab.is_visible("#tip")
    assert "position 3" in tab.text_content("#tip")
    probs = [float(p) for p in tab.locator("#tip tr td:nth-child(2)").all_text_contents()]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.001
    assert log["errors"] == []


def test_page_of_a_gru_without_predictions_works_too(tmp_path, browser):
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(len(vocab), CharLMConfig(cell="gru", layers=1, hidden=3, embed_dim=0)).eval()
    rec = record(model, vocab.encode(TEXT), dtype=np.float16)
    path = tmp_path / "gru.html"
    write_cells_page(path, rec, TEXT, vocab=vocab.chars, ranges=CellRecorder(model).ranges())
    tab = browser.new_page()
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.resolve().as_uri())
    tab.select_option("#quantity", "z")
    tab.hover("#text span >> nth=1")
    assert tab.locator("#tip tr").count() == 0
    assert errors == []
    tab.close()
