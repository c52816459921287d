"""What an operator needs: liveness and readiness, Prometheus metrics named concierge_*, request ids on responses and
log lines, JSON logs, and no user text in any log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chat.engine import Engine
from common import logs
from tests.test_api import make_engine, say, start
from ui.server import create_app

SECRET_TEXT = "my neighbour Zebulon Quixote said I would love a Korean horror film"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(tmp_path, rate_limit_per_minute=1000, new_sessions_per_minute=1000)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, with_gradio=False)) as c:
        yield c


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}(?:\{{{re.escape(want)}\}})? (\S+)$" if want else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, flags=re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_turns_latency_explanations_and_errors_are_counted(client: TestClient) -> None:
    sid, auth = start(client)
    say(client, sid, auth, "a sci-fi movie please")
    say(client, sid, auth, "who directed the first one?")
    assert client.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"}).status_code == 401
    page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert _metric(text, "concierge_turns_total", action="recommend") == 1
    assert _metric(text, "concierge_turns_total", action="answer") == 1
    assert _metric(text, "concierge_turn_seconds_count") == 2
    assert _metric(text, "concierge_stage_seconds_count", stage="retrieve") == 1
    assert _metric(text, "concierge_stage_seconds_count", stage="write") == 1
    assert sum(_metric(text, "concierge_explanations_total", path=p) for p in ("first_pass", "regenerated",
                                                                                 "template")) == 3
    assert _metric(text, "concierge_errors_total", kind="401") == 1
    assert "Zebulon" not in text and "sci-fi movie" not in text


def test_ready_when_the_database_answers_and_not_when_it_does_not(client: TestClient, engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import sessionmaker

    from storage.engine import make_engine as database

    assert client.get("/healthz").json()["ok"] is True
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": []}
    # a server nobody listens on (loopback, port 1): connections are refused
    gone = sessionmaker(database("postgresql+psycopg://nobody@127.0.0.1:1/concierge"))
    monkeypatch.setattr(engine.conversations, "_sessions", gone)
    down = client.get("/readyz")
    assert down.status_code == 503 and "the database does not answer" in down.json()["problems"][0]


def test_every_response_and_log_line_carries_the_request_id(client: TestClient,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
    made = client.get("/healthz", headers={"X-Request-ID": "not a token\n"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)  # a header that is not a plain token is replaced, not echoed
    sid, auth = start(client)
    caplog.handler.addFilter(logs.RequestIdFilter())
    with caplog.at_level(logging.INFO):
        client.post(f"/api/v1/sessions/{sid}/messages", json={"text": SECRET_TEXT},
                    headers={**auth, "X-Request-ID": "turn-7"})
    mine = [rec for rec in caplog.records if getattr(rec, "request_id", "-") == "turn-7"]
    assert mine, [rec.getMessage() for rec in caplog.records]
    for rec in caplog.records:  # no user text at any level
        assert "Zebulon" not in rec.getMessage() and "neighbour" not in rec.getMessage()


def test_json_log_lines_are_one_object_each_with_the_request_id() -> None:
    record = logging.LogRecord("chat.engine", logging.WARNING, __file__, 1, "turn took %d ms", (12,), None)
    token = logs.REQUEST_ID.set("abc123")
    try:
        logs.RequestIdFilter().filter(record)
        line = logs.JsonFormatter().format(record)
    finally:
        logs.REQUEST_ID.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "abc123" and data["message"] == "turn took 12 ms" and data["level"] == "WARNING"
