"""Shared fixtures. Offline by default: the hub switches are set before anything imports a model library."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# read before the loop below removes them: they choose test folders, not settings
_MODEL_CACHE = os.environ.get("CONCIERGE_TEST_MODEL_CACHE")
_SHARED_DATA = os.environ.get("CONCIERGE_TEST_SHARED_DATA")
for _key in [k for k in os.environ if k.startswith("CONCIERGE_")]:
    del os.environ[_key]  # tests choose their settings explicitly

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from chat.build import build_engine  # noqa: E402
from chat.engine import Engine  # noqa: E402
from chat.lm.base import ScriptedGenerator  # noqa: E402
from chat.settings import Settings, load_settings  # noqa: E402
from retrieval.embedders.hashing import HashingEmbedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Built models are kept between runs (gitignored) so only the first run pays for conversion.
MODEL_CACHE = Path(_MODEL_CACHE or ROOT / ".cache" / "models")
SHARED_DATA = Path(_SHARED_DATA or ROOT.parent / "shared" / "data")


def fake_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp, "model_cache": MODEL_CACHE, "embedder": "hashing",
                                 "lm": "scripted", "lm_extraction": "never", "shared_data": SHARED_DATA,
                                 # scripted reasons are no copies of records; the tests ask twice
                                 "reason_grounding": "checked", "reason_attempts": 2}
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fake_settings(tmp_path)


@pytest.fixture
def generator() -> ScriptedGenerator:
    return ScriptedGenerator()


@pytest.fixture
def engine(settings: Settings, generator: ScriptedGenerator) -> Engine:
    """The whole engine on the embedded catalog with a hashing embedder and a scripted generator."""
    return build_engine(settings, embedder=HashingEmbedder(), generator=generator)


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The default models (Qwen2.5-Coder-0.5B, multilingual-e5-small) on the embedded catalog."""
    data = tmp_path_factory.mktemp("real")
    settings = load_settings(data_dir=data, model_cache=MODEL_CACHE, shared_data=SHARED_DATA)
    yield build_engine(settings)
