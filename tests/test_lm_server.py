"""The OpenAI-compatible server backend against a real server: `transformers serve` on the packaged SmolLM2-135M,
started on a loopback port by these tests. And what a turn does when the server is down, slow or misnamed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.build import build_engine
from chat.lm.base import complete
from chat.lm.presets import prepare_lm
from chat.lm.server import ServerGenerator
from chat.settings import load_settings
from chat.state import DialogueState
from common.errors import ConfigError, LMError
from retrieval.embedders.hashing import HashingEmbedder
from tests.browser import free_port
from tests.conftest import MODEL_CACHE, fake_settings

pytestmark = pytest.mark.real_models


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`transformers serve` on SmolLM2-135M; yields its base URL (http://127.0.0.1:PORT/v1)."""
    model = prepare_lm("smollm2-135m", MODEL_CACHE)
    port = free_port()
    hub = tmp_path_factory.mktemp("hub")  # an empty hub cache: nothing is looked up, nothing fetched
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_CACHE": str(hub),
           "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", model,
                                 "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                                env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"transformers serve did not start: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def model_name() -> str:
    return prepare_lm("smollm2-135m", MODEL_CACHE)


def test_the_server_streams_a_reply_cut_at_the_stop_string(server: str, model_name: str) -> None:
    gen = ServerGenerator(server, model_name, timeout=60)
    messages = [{"role": "user", "content": "Name three colours, separated by commas."}]
    pieces = list(gen.stream(messages, max_new_tokens=24))
    full = "".join(pieces)
    assert len(pieces) > 1 and full.strip()
    stop = full[len(full) // 2:len(full) // 2 + 3]  # greedy: the same reply again, cut where this first stands
    text = complete(gen, messages, max_new_tokens=24, stop=(stop,))
    assert text == full[:full.index(stop)] + stop.rstrip()  # the stop string is kept, and nothing after it


def test_a_batch_is_sent_at_once_and_answered_in_order(server: str, model_name: str) -> None:
    gen = ServerGenerator(server, model_name, timeout=60)
    prompts = [[{"role": "user", "content": f"Say the number {n} and nothing else."}] for n in (1, 2, 3)]
    assert gen.complete_batch(prompts, max_new_tokens=8) == [complete(gen, p, max_new_tokens=8) for p in prompts]


def test_a_prefilled_reply_is_continued_not_repeated(server: str, model_name: str) -> None:
    gen = ServerGenerator(server, model_name, timeout=60)
    prefill = "1. Inception (2010) — "
    text = complete(gen, [{"role": "user", "content": "Say why Inception is worth watching, in one sentence."},
                          {"role": "assistant", "content": prefill}], max_new_tokens=24)
    assert text.strip() and not text.startswith(prefill)


def test_a_turn_over_the_server_is_written_and_checked(server: str, model_name: str, tmp_path: Path) -> None:
    settings = fake_settings(tmp_path, lm="scripted", lm_server_url=server, lm_server_model=model_name,
                             lm_timeout_s=120)
    engine = build_engine(settings, embedder=HashingEmbedder())
    assert engine.generator is not None and engine.generator.name.startswith(model_name)
    result = engine.ask(engine.new_session(), "a sci-fi movie please")
    assert result.action == "recommend" and len(result.recommendations) == 3
    assert sum(result.explanations.values()) == 3  # each reason model-written (and checked) or the template
    for rec in result.recommendations:
        assert rec.reason and rec.title in result.reply


def test_a_server_that_is_down_or_slow_loses_no_turn(tmp_path: Path, server: str, model_name: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    for url, timeout in ((down, 5.0), (server, 0.001)):
        settings = fake_settings(tmp_path / str(timeout), lm="scripted", lm_server_url=url, lm_server_model=model_name,
                                 lm_timeout_s=timeout, lm_extraction="always")
        engine = build_engine(settings, embedder=HashingEmbedder())
        with pytest.raises(LMError):
            complete(engine.generator, [{"role": "user", "content": "hi"}])  # type: ignore[arg-type]
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            result = engine.ask(engine.new_session(), "I loved Inception, something like it")
        assert result.action == "recommend" and len(result.recommendations) == 3
        assert result.explanations == {"template": 3}
        assert "movie:inception-2010" in engine.conversations.load_state(result.session_id)["liked"]  # the rules read
        assert any("LM" in r.getMessage() for r in caplog.records)


def test_a_server_setting_with_a_typo_is_a_clear_error_at_start() -> None:
    for values, says in (({"lm_server_url": "htp//127.0.0.1:8000"}, "lm_server_url"),
                         ({"lm_server_url": "http://127.0.0.1:8000/v1"}, "lm_server_model")):
        with pytest.raises(ConfigError, match=says):
            load_settings(**values)
    key = load_settings(lm_server_url="http://127.0.0.1:8000/v1", lm_server_model="m", lm_api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(key) and "sk-secret-value" not in key.model_dump_json()


def test_the_model_reader_over_the_server_reads_json_or_leaves_the_rules(server: str, model_name: str,
                                                                         tmp_path: Path) -> None:
    """reader=model with a server: the reading is asked for under the JSON schema (response_format); whatever the
    small model writes, every item kept is the catalog's and the turn goes on."""
    settings = fake_settings(tmp_path, lm="scripted", lm_server_url=server, lm_server_model=model_name,
                             lm_timeout_s=120, reader="model")
    engine = build_engine(settings, embedder=HashingEmbedder())
    assert engine.lm_fields  # the generative LM reads
    session = engine.new_session()
    result = engine.ask(session, "I loved Inception, no horror please")
    assert result.action in ("recommend", "ask", "answer")
    state = DialogueState.from_json(engine.conversations.load_state(session))
    assert set(state.liked + state.disliked + state.seen) <= set(engine.catalog.items)
