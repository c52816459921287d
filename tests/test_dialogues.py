"""The scripted dialogue suite, with fakes and with the real default models."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.dialogues import load_script, run_script
from chat.engine import Engine

SCRIPTS = sorted((Path(__file__).parent / "dialogues").glob("*.yaml"))


def test_there_are_enough_scripts_in_both_languages() -> None:
    assert len(SCRIPTS) >= 10
    texts = " ".join(p.read_text(encoding="utf-8") for p in SCRIPTS)
    assert "我" in texts and "movie" in texts


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_with_fakes(engine: Engine, path: Path) -> None:
    result = run_script(engine, load_script(path))
    assert result.failures == []


@pytest.mark.real_models
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_with_real_models(real_engine: Engine, path: Path) -> None:
    result = run_script(real_engine, load_script(path))
    assert result.failures == []
