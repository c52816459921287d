"""One frozen, typed settings object: defaults, then a TOML config file, then CONCIERGE_* variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.errors import ConfigError

ENV_PREFIX = "CONCIERGE_"
# Variables with our prefix that are not settings (read by entry points directly).
_NOT_SETTINGS = {"CONCIERGE_CONFIG"}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "concierge"


def _default_shared_data() -> Path:
    # ../shared/data beside the project checkout (the repo root is two levels above this file)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class Settings(BaseSettings):
    """Every tunable of Concierge. Environment: CONCIERGE_<NAME>; file: CONCIERGE_CONFIG=path.toml."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="holds the SQLite database and the model cache")
    database_url: str | None = Field(None, description="any SQLAlchemy URL; default sqlite file in data_dir "
                                     "(concierge.db, or concierge-<catalog>.db for another catalog)")
    catalog: str = Field("default", description="what is recommended: default = the embedded films and books; shop = "
                         "the demo shop (products with prices, brands, ratings); or a catalog file (.jsonl, .csv), "
                         "imported into an empty database with the attributes declared beside it")
    model_cache: Path | None = Field(None, description="model cache folder; default data_dir/models")
    lm: str = Field("qwen2.5-coder-0.5b", description="LM preset, local folder, .gguf file, or hub id")
    embedder: str = Field("multilingual-e5-small", description="embedder preset, ST folder, or hub id")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    lm_extraction: Literal["auto", "always", "never"] = Field(
        "auto", description="LM preference extraction: auto = only when the rules leave something unparsed")
    reader: Literal["auto", "rules", "model"] = Field(
        "auto", description="who reads what users think of items: auto = the taught reader (`concierge "
                            "train-reader`) in the fields where it was measured to read better than the rules, the "
                            "rules elsewhere; rules; model = the taught reader wherever it can")
    lm_replies: bool = Field(True, description="write replies with the LM (False: deterministic templates)")
    lm_server_url: str | None = Field(
        None, description="an OpenAI-compatible server to use as the LM instead of a local model, e.g. "
                          "http://127.0.0.1:8000/v1 (vLLM, llama.cpp's server, `transformers serve`, Ollama)")
    lm_server_model: str | None = Field(None, description="the model name to ask that server for")
    lm_api_key: SecretStr | None = Field(None, description="the server's API key, if it needs one (never logged)")
    lm_timeout_s: float = Field(30.0, gt=0, le=600, description="seconds an LM server may take per request")
    reason_grounding: Literal["copied", "checked"] = Field(
        "copied", description="what a model-written reason must be to be shown: copied = mostly the record's own "
                              "words (the 0.5B default invents when it paraphrases; evaluation/judged), so only in "
                              "the records' language; checked = anything the explanation checks let through, for a "
                              "stronger model")
    lm_runtime: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="how the local model runs: onnx = onnxruntime-genai with quantised weights "
                            "(lm_precision), built once from the model: decodes about 4x faster than bf16 on a CPU "
                            "(bench/bench_lm.py); torch = transformers, bf16, CPU or GPU; auto = onnx on a CPU, "
                            "torch on a GPU (and where a model cannot be exported)")
    lm_precision: Literal["int8", "int4"] = Field(
        "int8", description="weights of the onnx runtime's model: int8 wrote as faithfully as bf16 on the judged "
                            "explanations, int4 (faster still) less often faithful (docs/evaluation.md)")
    lm_batch: Literal["auto", "on", "off"] = Field(
        "auto", description="write a list's reasons in one batched decode: auto = on a GPU, or on a CPU with "
                            "AVX-512 and bf16, where a batch of three costs about what one does")
    recommendations: int = Field(3, ge=3, le=5, description="items shown per recommending turn")
    learn_from_likes: bool = Field(True, description="likes stored by any session feed the ranker's co-occurrence "
                                   "counts (False: fitted counts only, e.g. for reproducible simulations)")
    diversity: float = Field(0.75, ge=0.0, le=1.0,
                             description="MMR relevance weight: 1.0 = pure relevance, lower = more varied lists")
    max_message_chars: int = Field(2000, ge=50, le=20000, description="longer user messages are cut")
    # 64: a reason retelling the record's plot sentence (up to 200 characters) needs about 50; at 40 such
    # sentences were cut off, written twice and replaced by the template
    reason_attempts: int = Field(1, ge=1, le=2, description="how often the model may write an item's reason before "
                                 "the template is shown: under reason_grounding=copied a second, stricter try passed "
                                 "for 1-3 of the probe's 70 items, and took the time of a first try for another")
    reason_budget_s: float = Field(6.0, gt=0, le=120, description="seconds a turn may spend on the model's reasons; "
                                   "after them the rest are the catalog's templates")
    max_reason_tokens: int = Field(64, ge=8, le=512, description="LM tokens per recommendation reason")
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text or one JSON object per line; each carries its request's id")
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    concurrency: int = Field(4, ge=1, le=64, description="chat turns served at once by the web UI")
    embed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="other sites (scheme://host[:port]) allowed to embed the widget and call the API; "
                        "comma-separated in the environment. The server's own origin is always allowed")
    max_request_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024,
                                   description="larger HTTP request bodies get 413")
    rate_limit_per_minute: int = Field(30, ge=1, le=100000,
                                       description="requests per session per minute on every door; more get 429")
    new_sessions_per_minute: int = Field(20, ge=1, le=100000,
                                         description="new sessions per client address per minute; more get 429")
    session_idle_hours: float = Field(720.0, gt=0, description="a session unused this long expires; `concierge "
                                      "prune` (run by the server every hour) deletes it with its turns")
    identity_secret: SecretStr | None = Field(
        None, description="the secret your site signs user ids with (HMAC-SHA256 of 'user_id:expires'); unset: "
                          "user ids sent by clients are ignored and every visitor is anonymous")
    trust_unsigned_user_ids: bool = Field(
        False, description="UNSAFE: take user ids from clients without a signature, so anyone who knows or guesses "
                           "an id can read, change and delete that user's profile. Only for a server no one but "
                           "your own backend can reach")
    shared_data: Path = Field(default_factory=_default_shared_data,
                              description="ReDial data for evaluation and benchmarks")

    @field_validator("identity_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'`)")
        return value

    @field_validator("lm_server_url")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not a server URL; write it as http://host:port/v1")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _server_model(self) -> Settings:
        if self.lm_server_url and not self.lm_server_model:
            raise ValueError("lm_server_url is set but lm_server_model is not: name the model to ask the server for")
        return self

    @field_validator("lm", "embedder")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("embed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value or ())
        out = []
        for raw in items:
            origin = str(raw).strip().rstrip("/")
            if not origin:
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
                raise ValueError(f"'{origin}' is not an origin; write scheme://host[:port], e.g. https://shop.example")
            out.append(origin)
        return tuple(out)

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be default, shop or the path of a catalog file")
        if value not in ("default", "shop") and not Path(value).expanduser().is_file():
            raise ValueError(f"'{value}' is neither default, shop nor a catalog file that exists")
        return value

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        name = "concierge.db" if self.catalog == "default" else f"concierge-{Path(self.catalog).stem}.db"
        return f"sqlite:///{self.data_dir / name}"

    @property
    def cache_dir(self) -> Path:
        return self.model_cache or self.data_dir / "models"

    def resolved_device(self) -> str:
        """'cuda' when asked for or (auto) when a GPU is visible; imports torch only in that case."""
        if self.device != "auto":
            return self.device
        if importlib_available("torch"):
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        return "cpu"


def importlib_available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, rejecting unknown keys with the list of valid ones.

    Args:
        config_file: a TOML file of settings (default: $CONCIERGE_CONFIG if set).
        overrides: values that win over the file and the environment (used by CLI flags and tests).
    """
    valid = sorted(Settings.model_fields)
    unknown_env = [k for k in os.environ if k.startswith(ENV_PREFIX) and k not in _NOT_SETTINGS
                   and k[len(ENV_PREFIX):].lower() not in Settings.model_fields]
    if unknown_env:
        raise ConfigError(f"Unknown setting(s) {', '.join(sorted(unknown_env))}. Valid CONCIERGE_* names: "
                          + ", ".join(f"CONCIERGE_{v.upper()}" for v in valid))
    file_values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["CONCIERGE_CONFIG"]) if os.environ.get("CONCIERGE_CONFIG") else None)
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read config file {path}: {exc}") from None
        bad = sorted(set(file_values) - set(valid))
        if bad:
            raise ConfigError(f"Unknown key(s) {', '.join(bad)} in {path}. Valid keys: {', '.join(valid)}")
    env_values = {k: v for k, v in file_values.items() if f"{ENV_PREFIX}{k.upper()}" not in os.environ}
    try:
        return Settings(**{**env_values, **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid settings: {problems}. Valid keys: {', '.join(valid)}") from None
