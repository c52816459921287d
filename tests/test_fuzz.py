"""The HTTP API fuzzed with schemathesis: cases generated from the OpenAPI schema for every operation, valid and
invalid, sent with no token, another session's token and the session's own token. No answer may be a 5xx or
fall outside the schema (status, content type, body).

`TEST_FUZZ_EXAMPLES=300 pytest tests/test_fuzz.py -s` runs a longer campaign and prints its request count.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi import checks as openapi_checks

from chat.build import build_engine
from chat.lm.base import ScriptedGenerator
from retrieval.embedders.hashing import HashingEmbedder
from tests.conftest import fake_settings
from ui.server import create_app

EXAMPLES = int(os.environ.get("TEST_FUZZ_EXAMPLES", "40"))
STATUSES: Counter[int] = Counter()


_FOLDER = tempfile.mkdtemp(prefix="concierge-fuzz-")
# built when this module is collected: schemathesis 4.32's lazy schema (from_fixture) fails under pytest 9
ENGINE = build_engine(fake_settings(Path(_FOLDER), rate_limit_per_minute=100000, new_sessions_per_minute=100000,
                                            max_request_bytes=262144),
                              embedder=HashingEmbedder(), generator=ScriptedGenerator())
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ENGINE, with_gradio=False))


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\nfuzzed: {sum(STATUSES.values())} requests, statuses {dict(sorted(STATUSES.items()))}")
    ENGINE.conversations.sessions.kw["bind"].dispose()
    shutil.rmtree(_FOLDER, ignore_errors=True)


_modes = itertools.cycle(["own token", "no token", "another session's token"])


@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_or_an_answer_outside_the_schema(case: Any) -> None:
    mode = next(_modes)
    on_session = "session_id" in (case.path_parameters or {})
    if on_session:
        own, own_token = ENGINE.open_session()
        _, other_token = ENGINE.open_session()
        case.path_parameters["session_id"] = own
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if mode != "no token":
            headers["Authorization"] = f"Bearer {own_token if mode == 'own token' else other_token}"
        case.headers = headers
    # A schema-valid request may rightly be refused (an unknown item is 404). The tokens are set above, after
    # generation, so schemathesis's own checks of missing or ignored auth would judge the wrong request: the
    # assertion below does that job.
    response = case.call_and_validate(excluded_checks=[openapi_checks.positive_data_acceptance,
                                                       openapi_checks.ignored_auth,
                                                       openapi_checks.missing_required_header])
    STATUSES[response.status_code] += 1
    assert response.status_code < 500
    if on_session and mode != "own token" and case.method != "OPTIONS":  # no access without the session's token
        assert response.status_code in (401, 403, 404, 405, 413, 422), (mode, response.status_code)
