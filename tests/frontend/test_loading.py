"""A model that loads on the server: the page shows "loading smollm2-135m … N%" in place of the plots, asks
again by itself, then draws the plots, with no error shown. The server here starts with an empty cache folder
(ATTNLAB_CACHE), so that SmolLM2 really converts its GGUF file on its first request (about 10 s). A server that
cannot be reached is said in words, and the page recovers by itself once it answers again."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from models import pretrained
from tests.frontend.conftest import serve
from tests.frontend.pages import chip_texts, ready

SENTENCE = "The capital of France is"


@pytest.mark.slow
def test_the_page_shows_the_load_then_the_plots(page: Page, tmp_path, need, shot):
    need(pretrained.SMOLLM2_PACKAGE.module, pretrained.GGUF_PACKAGE.module, why="SmolLM2-135M")
    with serve(ATTNLAB_CACHE=str(tmp_path / "empty-cache")) as url:
        page.goto(f"{url}/?model=smollm2-135m&text=The%20capital%20of%20France%20is")
        box = page.locator("#loading")
        expect(box).to_be_visible(timeout=20_000)
        expect(box.locator(".loading-text")).to_have_text(re.compile(r"^loading smollm2-135m … \d{1,3}%$"))
        expect(page.locator("#error")).to_be_hidden()
        assert page.locator("main").get_attribute("data-loading") == "smollm2-135m"
        assert page.locator("#panel-attention").is_hidden()  # in place of the plots
        shot(page, "loading", full_page=False)
        first = int(re.search(r"(\d+)%", box.locator(".loading-text").inner_text()).group(1))

        ready(page, timeout=300_000)  # the page asked again by itself until the model had loaded
        expect(box).to_be_hidden()
        expect(page.locator("#error")).to_be_hidden()
        assert page.locator("main").get_attribute("data-loading") is None
        want = httpx.post(f"{url}/api/analyze", json={"text": SENTENCE, "model": "smollm2-135m"}, timeout=30).json()
        assert chip_texts(page) == [t["display"] for t in want["tokens"]]
        z = page.evaluate("() => document.querySelector('#attn-heatmap .plot').data[0].z")
        assert z[-1] == want["attention"][0][0][-1]
        assert 0 <= first <= 100
        models = {m["name"]: m for m in httpx.get(f"{url}/api/models", timeout=10).json()["models"]}
        assert models["smollm2-135m"]["load"]["state"] == "loaded"
    assert any((tmp_path / "empty-cache").glob("smollm2-135m-*/model.safetensors"))  # converted once, cached


def test_a_server_that_cannot_be_reached_is_said_and_the_page_recovers_by_itself(page: Page):
    """The server stops (or restarts) while a class has the page open: the page says so in words (it showed the
    browser's "Failed to fetch.") and, once the server answers again, draws the sentence and the lesson step without
    anyone typing (it stayed on the error until the student changed something)."""
    page.set_default_timeout(120_000)
    page.goto("/?lesson=many-heads&step=1")
    page.wait_for_selector('#lesson-panel[data-state="ready"][data-step="1"]')
    ready(page, 120_000)
    down = {"on": True}

    def refuse(route):
        if down["on"]:
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/api/**", refuse)
    page.fill("#text", "The class typed this while the server restarted.")
    expect(page.locator("#error")).to_contain_text("The server could not be reached")
    expect(page.locator("#error")).not_to_contain_text("Failed to fetch")
    down["on"] = False  # the server is back
    expect(page.locator("#error")).to_be_hidden(timeout=30_000)
    ready(page, 30_000)
    assert chip_texts(page)[-1] == "."
    expect(page.locator("#lesson-panel")).not_to_contain_text("could not be")
