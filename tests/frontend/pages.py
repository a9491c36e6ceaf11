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
