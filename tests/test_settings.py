from __future__ import annotations

from pathlib import Path

import pytest

from chat.settings import load_settings
from common.errors import ConfigError


def test_environment_and_file_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('lm = "smollm2-135m"\nrecommendations = 4\n', encoding="utf-8")
    monkeypatch.setenv("CONCIERGE_RECOMMENDATIONS", "5")
    s = load_settings(cfg, data_dir=tmp_path)
    assert (s.lm, s.recommendations) == ("smollm2-135m", 5)  # the environment wins over the file
    assert s.db_url == f"sqlite:///{tmp_path / 'concierge.db'}"


def test_unknown_keys_are_rejected_with_the_valid_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONCIERGE_EMBEDER", "x")
    with pytest.raises(ConfigError, match="CONCIERGE_EMBEDDER"):
        load_settings()
    monkeypatch.delenv("CONCIERGE_EMBEDER")
    cfg = tmp_path / "c.toml"
    cfg.write_text("colour = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Valid keys"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="recommendations"):
        load_settings(recommendations=9)
