"""A model that loads on the server: the page shows "loading smollm2-135m … N%" in place of the plots, asks
again by itself, then draws the plots, with no error shown. The server here starts with an empty cache folder
(ATTNLAB_CACHE), so that SmolLM2 really converts its GGUF file on its first request (about 10 s)."""

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
