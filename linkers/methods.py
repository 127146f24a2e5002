"""Builds a linking method from configuration: the reranker plus the models, stores and LLM client it uses."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from kg.kgstore.config import Config
from kg.kgstore.errors import ConfigError, InputError
from kg.kgstore.graph import GraphStore
from kg.linkers.ranking import Reranker, load_reranker
from kg.linkers.ranking.llm_method import LLMOptions, MethodServices
from kg.linkers.ranking.registry import check_settings, get_method, methods


def configured_settings(config: Config, path: Path | None, method: str) -> dict[str, Any]:
    """The method's settings: kg.toml's `[link.<method>]` table, with the method config file's table over it."""
    from kg.linkers.config import method_tables

    return {**method_tables(config.link).get(method, {}), **method_settings(path, method)}


def method_settings(path: Path | None, method: str) -> dict[str, Any]:
    """The `[method]` table of a TOML method config (e.g. `[i2cr] alpha = 0.6`); {} without a file. Every table is
    checked against its method's settings (keys and types), not only the chosen method's: a typo anywhere in the
    file is an error, not a default silently kept."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: not a readable TOML method config ({exc})") from exc
    unknown = sorted(set(data) - set(methods()))
    if unknown:
        raise InputError(f"{path}: unknown method section(s) {', '.join(unknown)}; known: {', '.join(methods())}")
    for name, table in data.items():
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{name}] must be a table of settings")
        check_settings(name, table, get_method(name).settings, str(path))
    return data.get(method, {})


def build_reranker(config: Config, method: str, weights: Path | None = None, *, llm: LLMOptions | None = None,
                   settings: dict[str, Any] | None = None, encoder: Any = None, image_encoder: Any = None,
                   image_loader: Any = None, graph: GraphStore | None = None) -> Reranker:
    """`encoder` is the loaded TextEncoder; `image_loader` a kgstore ImageLoader (for IAV and clue models)."""
    if not get_method(method).needs_llm:
        return load_reranker(method, weights, settings=settings)
    from kg.linkers.ranking.llm import LLMClient, LLMSettings

    llm_settings = LLMSettings.from_config(config)
    if not llm_settings.configured:
        raise ConfigError(f"--method {method} needs an LLM: set KG_LLM_BASE_URL (an OpenAI-compatible API, e.g. "
                          "http://127.0.0.1:8080/v1) and KG_LLM_MODEL, or [llm] base_url/model in kg.toml")
    services = MethodServices(
        client=LLMClient(llm_settings),
        encode=encoder.encode if encoder is not None else None,
        image_encoder=image_encoder,
        load_image=image_loader.open if image_loader is not None else None,
        graph=graph,
        model_version=encoder.version if encoder is not None else None,
    )
    return load_reranker(method, weights, services=services, llm=llm, settings=settings)
