"""The scripted dialogue suite, with fakes and with the real default models (docs/dialogue-scripts.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.build import build_engine, build_engine_for
from chat.engine import Engine
from chat.lm.base import ScriptedGenerator
from evaluation.scripts import load_script, run_script
from retrieval.embedders.hashing import HashingEmbedder
from tests.conftest import SHARED_DATA, fake_settings

SCRIPTS = sorted((Path(__file__).parent / "dialogues").glob("*.yaml"))


def test_the_suite_is_big_varied_and_partly_on_redial_and_the_shop() -> None:
    scripts = [load_script(p) for p in SCRIPTS]
    assert len(scripts) >= 40
    texts = " ".join(p.read_text(encoding="utf-8") for p in SCRIPTS)
    assert "我" in texts and "movie" in texts
    on_redial = sum(s["catalog"] == "redial" for s in scripts)
    shop = [s for s in scripts if s["catalog"] == "shop"]
    assert 0.2 <= on_redial / (len(scripts) - len(shop)) <= 0.3
    assert len(shop) >= 15 and sum(any("\u4e00" <= c <= "\u9fff" for c in str(s["turns"])) for s in shop) >= 5


@pytest.fixture(scope="session")
def fake_redial_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = fake_settings(tmp_path_factory.mktemp("redial-fake"))
    return build_engine_for(settings, "redial", HashingEmbedder(), ScriptedGenerator())


@pytest.fixture(scope="session")
def real_script_engine(real_engine: Engine) -> Engine:
    """The default models reading every turn (LM extraction as configured), with template reasons.

    The scripts check what is shown, not how it is worded; model reasons cost up to six generations a turn,
    which on a 2-core CPU without AVX-512 (about 6 tokens/s) is over a minute a turn. test_real_models,
    test_reply and `concierge eval dialogues` cover the model-written reasons.
    """
    settings = real_engine.settings.model_copy(update={"lm_replies": False})
    return build_engine(settings, embedder=real_engine.embedder, generator=real_engine.generator)


@pytest.fixture(scope="session")
def real_redial_engine(real_script_engine: Engine) -> Engine:
    """The ReDial catalog with the default models (shared with real_engine: loaded once)."""
    return build_engine_for(real_script_engine.settings, "redial", real_script_engine.embedder,
                              real_script_engine.generator)


@pytest.fixture(scope="session")
def fake_shop_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = fake_settings(tmp_path_factory.mktemp("shop-fake"))
    return build_engine_for(settings, "shop", HashingEmbedder(), ScriptedGenerator())


@pytest.fixture(scope="session")
def real_shop_engine(real_script_engine: Engine) -> Engine:
    """The demo shop with the default models (shared with real_engine: loaded once)."""
    return build_engine_for(real_script_engine.settings, "shop", real_script_engine.embedder,
                            real_script_engine.generator)


def _engine(path: Path, default: Engine, request: pytest.FixtureRequest, name: str) -> Engine:
    catalog = load_script(path)["catalog"]
    if catalog == "shop":
        return request.getfixturevalue(name.replace("redial", "shop"))  # type: ignore[no-any-return]
    if catalog != "redial":
        return default
    if not (SHARED_DATA / "redial" / "movies.json").is_file():
        pytest.skip(f"no ReDial data at {SHARED_DATA}")
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_with_fakes(engine: Engine, path: Path, request: pytest.FixtureRequest) -> None:
    result = run_script(_engine(path, engine, request, "fake_redial_engine"), load_script(path))
    assert result.failures == []


@pytest.mark.real_models
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_with_real_models(real_script_engine: Engine, path: Path, request: pytest.FixtureRequest) -> None:
    result = run_script(_engine(path, real_script_engine, request, "real_redial_engine"), load_script(path))
    assert result.failures == []
