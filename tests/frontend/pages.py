"""What the browser tests share: opening the page, waiting for it, reading its state and plots."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

from playwright.sync_api import Page

# the page is idle and the visible view has drawn its data
READY = 'html[data-busy="0"] main .view:not([hidden])[data-state="ready"]'
SENTENCE = "The dog chased the ball and the ball rolled away."


def open_app(page: Page, **params) -> None:
    page.goto("/?" + urlencode(params) if params else "/")
    ready(page)


def ready(page: Page, timeout: float = 30_000) -> None:
    page.wait_for_selector(READY, state="attached", timeout=timeout)


def url_state(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def api(page: Page, path: str, body: dict) -> dict:
    res = page.request.post(path, data=body)
    assert res.ok, res.text()
    return res.json()


def chip_texts(page: Page) -> list[str]:
    return page.locator("#tokens .tok .tok-text").all_text_contents()


def plot_data(page: Page, selector: str) -> list:
    return page.evaluate("(s) => document.querySelector(s)?.data ?? null", selector)


# every plot's tick labels inside its box: the plots draw them with Plotly's ticklabeloverflow "allow" (plot.js draw),
# which hides none, so a margin too small for its labels would show them cut at the plot's edge
TICKS_OUTSIDE = """() => [...document.querySelectorAll('main .view:not([hidden]) .plot')].flatMap((p) => {
  const svg = p.querySelector('.main-svg');
  if (!svg) return [];
  const b = svg.getBoundingClientRect();
  return [...p.querySelectorAll('.xtick text, .ytick text')].filter((t) => t.textContent).map((t) => {
    const r = t.getBoundingClientRect();
    return { plot: p.closest('[data-part]') ? p.closest('[data-part]').dataset.part : p.parentElement.id, label: t.textContent,
             out: Math.max(b.left - r.left, r.right - b.right, b.top - r.top, r.bottom - b.bottom) };
  }).filter((x) => x.out > 1);
})"""


# every plot's words that run out of its box or into each other: tick labels, axis titles, annotations (panel titles),
# legend entries, colour-bar labels. Tick labels of one axis against each other are left to the tests that measure
# slanted labels (their boxes overlap where the text does not); `within` picks the plots (a CSS selector).
TEXT_CLASHES = """(within) => [...document.querySelectorAll(within || 'main .view:not([hidden]) .plot')]
  .filter((gd) => gd.offsetParent && gd.querySelector('.main-svg')).flatMap((gd) => {
  const name = gd.closest('[data-part]') ? gd.closest('[data-part]').dataset.part : gd.parentElement.id;
  const b = gd.querySelector('.main-svg').getBoundingClientRect();
  const kinds = [['tick', '.xtick text, .ytick text'], ['title', '[class^="g-"][class$="title"] text'],
                 ['annotation', '.annotation-text'], ['legend', '.legendtext'], ['colorbar', '.colorbar .tick text, .cbtitle text']];
  const seen = new Set();
  const items = kinds.flatMap(([k, sel]) => [...gd.querySelectorAll(sel)].filter((t) => !seen.has(t) && seen.add(t))
    .filter((t) => t.textContent.trim()).map((t) => ({ k, s: t.textContent, r: t.getBoundingClientRect() }))
    .filter((x) => x.r.width > 0));
  const out = items.map((x) => [x, Math.max(b.left - x.r.left, x.r.right - b.right, b.top - x.r.top, x.r.bottom - b.bottom)])
    .filter(([, o]) => o > 1).map(([x, o]) => `${name}: ${x.k} "${x.s}" out of the plot by ${o.toFixed(1)} px`);
  items.forEach((a, i) => items.slice(i + 1).forEach((c) => {
    if (a.k === c.k && (a.k === 'tick' || a.k === 'colorbar')) return;
    const ox = Math.min(a.r.right, c.r.right) - Math.max(a.r.left, c.r.left);
    const oy = Math.min(a.r.bottom, c.r.bottom) - Math.max(a.r.top, c.r.top);
    if (ox > 1 && oy > 1) out.push(`${name}: ${a.k} "${a.s}" over ${c.k} "${c.s}" (${ox.toFixed(0)} x ${oy.toFixed(0)} px)`);
  }));
  return out;
})"""
