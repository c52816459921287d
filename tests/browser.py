"""Headless Debian chromium through Playwright, with every non-loopback request blocked and recorded."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Browser:
    """`with Browser() as b: page = b.page()`; `b.external` lists blocked non-loopback requests."""

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.pw = sync_playwright().start()
        self.ctx = self.pw.chromium.launch_persistent_context(
            self.profile, executable_path=CHROMIUM, headless=True, args=ARGS, viewport={"width": 1100, "height": 900})
        self.external: list[str] = []
        self.ctx.route("**/*", self._route)
        return self

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK or host.startswith("127."):
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def page(self) -> Any:
        return self.ctx.pages[0] if self.ctx.pages else self.ctx.new_page()

    def __exit__(self, *exc: object) -> None:
        self.ctx.close()
        self.pw.stop()
        shutil.rmtree(self.profile, ignore_errors=True)
