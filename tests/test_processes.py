"""Several `concierge serve` processes against one PostgreSQL: a conversation goes on in whichever process gets the
next turn, an import through one is seen by the others, and a bounded load across them on loopback loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.browser import Server, free_port
from tests.conftest import ROOT
from tests.postgres import Postgres

FAKES = {"embedder": "hashing", "lm": "scripted", "lm_extraction": "never", "rate_limit_per_minute": "100000",
         "new_sessions_per_minute": "100000", "reader": "rules"}


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Server], dict[str, str]]]:
    with Postgres() as pg:
        url = pg.new_database("processes")
        folder = tmp_path_factory.mktemp("processes")
        env = {**FAKES, "database_url": url}
        procs = [Server(folder / n, free_port(), folder / f"{n}.log", **env) for n in ("a", "b", "c")]
        try:
            # all at once on the empty database: each imports and embeds the catalog, racing the others
            with ThreadPoolExecutor(max_workers=3) as pool:
                list(pool.map(lambda srv: srv.start(), procs))
            yield procs, env
        finally:
            for srv in procs:
                srv.stop()


def test_a_conversation_goes_on_in_whichever_process_gets_the_turn(servers: tuple[list[Server], dict[str, str]]
                                                                   ) -> None:
    procs, _ = servers
    opened = call(procs[0].url, "POST", "/api/v1/sessions", {})
    sid, token = opened["session_id"], opened["token"]
    shown: set[str] = set()
    for n, text in enumerate(("sci-fi movies please", "more", "something older", "another one")):
        out = call(procs[n % len(procs)].url, "POST", f"/api/v1/sessions/{sid}/messages", {"text": text}, token)
        ids = {r["item_id"] for r in out["recommendations"]}
        assert ids and not ids & shown  # every process knows what the others showed
        shown |= ids
        assert out["state"]["turns"] == n + 1 and "sci-fi" in out["state"]["genres_wanted"]
    turns = call(procs[2].url, "GET", f"/api/v1/sessions/{sid}/turns", token=token)["turns"]
    assert [t["user"] for t in turns] == ["sci-fi movies please", "more", "something older", "another one"]


def test_an_import_through_one_process_is_seen_by_the_others(servers: tuple[list[Server], dict[str, str]],
                                                             tmp_path: Path) -> None:
    procs, env = servers
    catalog = tmp_path / "new.jsonl"
    catalog.write_text(json.dumps({"id": "movie:zyxwvut-quasar-2031", "title": "Zyxwvut Quasar", "year": 2031,
                                   "genres": ["sci-fi"], "description": "A zyxwvut quasar drifts toward a "
                                   "lighthouse keeper's moon."}) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(catalog)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=procs[0].env)
    assert done.returncode == 0 and "1 added" in done.stdout, done.stdout + done.stderr
    for srv in procs:  # each process's own title index knows the new film by the next turn
        opened = call(srv.url, "POST", "/api/v1/sessions", {})
        out = call(srv.url, "POST", f"/api/v1/sessions/{opened['session_id']}/messages",
                   {"text": "I loved Zyxwvut Quasar"}, opened["token"])
        assert out["state"]["liked"] == ["movie:zyxwvut-quasar-2031"] and "Zyxwvut Quasar" in out["reply"], srv.url


def test_a_bounded_load_across_the_processes_loses_and_mixes_nothing(servers: tuple[list[Server], dict[str, str]]
                                                                     ) -> None:
    procs, _ = servers
    genres = ["comedy", "horror", "romance", "western", "animation", "war", "musical", "documentary", "crime"]

    def conversation(n: int) -> tuple[str, str, list[str]]:
        opened = call(procs[n % len(procs)].url, "POST", "/api/v1/sessions", {})
        sid, token = opened["session_id"], opened["token"]
        said = [f"{genres[n % len(genres)]} movies please", "more", "another"]
        for k, text in enumerate(said):  # each turn on another process
            call(procs[(n + k) % len(procs)].url, "POST", f"/api/v1/sessions/{sid}/messages", {"text": text}, token)
        return sid, token, said

    with ThreadPoolExecutor(max_workers=12) as pool:
        done = list(pool.map(conversation, range(24)))
    for n, (sid, token, said) in enumerate(done):
        turns = call(procs[n % len(procs)].url, "GET", f"/api/v1/sessions/{sid}/turns", token=token)["turns"]
        assert [t["user"] for t in turns] == said  # its own messages, each once, in order
