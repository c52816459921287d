"""Headless Debian chromium through Playwright, with every non-loopback request blocked and recorded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`concierge serve` in a subprocess on 127.0.0.1; `stop()` then `start()` restarts it on the same data."""

    def __init__(self, data_dir: Any, port: int, log_path: Any, **settings: str) -> None:
        import os

        from tests.conftest import MODEL_CACHE

        self.port, self.log_path = port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "CONCIERGE_DATA_DIR": str(data_dir), "CONCIERGE_MODEL_CACHE": str(MODEL_CACHE),
                    "CONCIERGE_PORT": str(port), **{f"CONCIERGE_{k.upper()}": v for k, v in settings.items()}}
        self.proc: Any = None

    def start(self, timeout: float = 300) -> Server:
        import subprocess
        import sys
        import time
        import urllib.request

        from tests.conftest import ROOT

        with open(self.log_path, "a") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve"], cwd=ROOT, env=self.env,
                                         stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log_path).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"server did not start: {Path(self.log_path).read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


class StaticSite:
    """A host page on its own loopback port (another origin than the Concierge server)."""

    def __init__(self, files: dict[str, str], port: int = 0) -> None:
        import http.server
        import threading

        pages = {"/" + name: body.encode() for name, body in files.items()}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class AppServer:
    """An ASGI app served by uvicorn in a thread on a loopback port: `with AppServer(app) as url: ...`."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))

    def __enter__(self) -> str:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
