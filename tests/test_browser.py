"""The web UI in a real browser (Debian chromium), served by `concierge serve` with the default models."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.importers import embedded_catalog_files, load_file
from tests.conftest import MODEL_CACHE, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.real_models]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which("chromium"):
        pytest.fail("Debian chromium is missing: `apt-get install chromium` (.ci/run does this)")
    port = _free_port()
    env = {**os.environ, "CONCIERGE_DATA_DIR": str(tmp_path_factory.mktemp("web")),
           "CONCIERGE_MODEL_CACHE": str(MODEL_CACHE), "CONCIERGE_PORT": str(port)}
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve"], cwd=ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# A turn with the default models writes up to six sentences with Qwen: 45-110 s on a 2-core CPU without
# AVX-512, more when the first turn also loads the model. The wait is a limit for a hung page, not a speed target.
TURN_MS = 300_000


def _card_titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.split(" (")[0] for t in page.locator(".rec-card .rec-title").all_inner_texts()]


def test_chat_shows_catalog_cards_and_a_rejection_removes_one(server: str) -> None:
    from tests.browser import Browser

    catalog_titles = {it.title for f in embedded_catalog_files() for it in load_file(f)}
    with Browser() as browser:
        page = browser.page()
        page.goto(server, wait_until="load")
        box = page.locator("#msg textarea")
        box.wait_for(timeout=60_000)
        box.fill("I loved Inception, any good sci-fi movies?")
        box.press("Enter")
        page.locator(".rec-card").nth(2).wait_for(timeout=TURN_MS)
        first = _card_titles(page)
        assert len(first) == 3 and set(first) <= catalog_titles
        assert page.locator("#chatbot").inner_text().count(first[0]) >= 1
        rejected = first[0]
        box.fill(f"I don't like {rejected}, show me others")
        box.press("Enter")
        page.wait_for_function(
            "old => { const t = [...document.querySelectorAll('.rec-card .rec-title')].map(e => e.innerText);"
            " return t.length === 3 && !t.some(x => x.startsWith(old)); }", arg=rejected, timeout=TURN_MS)
        second = _card_titles(page)
        assert rejected not in second and set(second) <= catalog_titles
        page.screenshot(path=str(Path(os.environ.get("CONCIERGE_SCREENSHOT_DIR", "/tmp")) / "concierge-ui.png"))
    assert browser.external == []
