"""The link configuration, defined once: every option `kg link`, `kg eval`, `kg serve`, the /link request and the
Python API take, with its type, default and help. `kg link`'s click options (kg.cli.link_options) and /link's request
model (kg.cli.web.link_models) are generated from `LinkConfig`'s fields, so a new option is written here only.

A value comes from, first to last: the call (a flag, a request field, a keyword of `kg.link`), `KG.open`'s
`link_*` settings, the environment (`KG_LINK_TOP_K`, `KG_LINK_LLM_MARGIN`), kg.toml, the default. In kg.toml the
options live in `[link]`, the LLM methods' in `[link.llm]` (when, margin, budget) and each method's own settings in
`[link.<method>]` (`[link.i2cr] alpha = 0.6`), as in a --method-config file.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kg.kgstore.config import Config, OpenSection, ResolvedSetting, shown
from kg.kgstore.errors import ConfigError, InputError
from kg.linkers.ranking.llm_method import WHEN, LLMOptions

LLM_TABLE = "llm"  # [link.llm]: the LLM methods' options
CONTEXT_ENCODERS = ("model", "static", "cascade")
# what detected text gets linked: names (people, places, organisations, works... as NER and capitalised KB names
# find them), or also the concepts a set's annotators link ("poet", "professor": KB names that do not look like
# names, kept where the learned keyphraseness says training data usually links them)
LINK_POLICIES = ("named", "all")


def _method_help() -> str:
    from kg.linkers.ranking.registry import method_help
    return method_help()


def _method_names() -> Sequence[str]:
    from kg.linkers.ranking.registry import methods
    return tuple(methods())


def _budget_help() -> str:
    from kg.linkers.ranking.registry import budget_help
    return budget_help()


def _detector_help() -> str:
    from kg.linkers.detection.detectors import detector_help
    return detector_help()


def _detector_names() -> Sequence[str]:
    from kg.linkers.detection.detectors import detectors
    return tuple(detectors())


def _fixed(*names: str) -> Callable[[], Sequence[str]]:
    return lambda: names


def option(default: Any, *, help: str | Callable[[], str], choices: Callable[[], Sequence[str]] | None = None,
           low: float | None = None, high: float | None = None, table: str | None = None, key: str | None = None,
           local: bool = False, flag: str | None = None) -> Any:
    """A field of `LinkConfig`: its help, the values it takes, where it sits in kg.toml (`table`: [link.<table>]
    under `key`), and whether it names a file of the machine that runs kg (`local`: a flag and a keyword of the
    API, not a field of /link). `flag`: a boolean's click spelling ("--coref/--no-coref")."""
    return field(default=default, metadata={"help": help, "choices": choices, "low": low, "high": high,
                                            "table": table, "key": key, "local": local, "flag": flag})


@dataclass(frozen=True)
class LinkConfig:
    """The link options (see the module's docstring for where each value comes from)."""

    method: str = option("auto", help=_method_help, choices=_method_names)
    weights: Path | None = option(None, local=True, help="Weights file of the features method, or model file of the "
                                  "learned method (default: the shipped ones; see kg train).")
    top_k: int = option(10, low=1, high=100, help="Candidates per mention.")
    nil_threshold: float | None = option(None, help="Leave a mention unlinked (NIL) when its best score is below "
                                         "this.")
    context: str = option("cascade", choices=_fixed(*CONTEXT_ENCODERS), help=(
        "How mention contexts are encoded: cascade (static vectors first, the text model again for the mentions "
        "whose static top-1/top-2 margin is under 0.2: the model's Hits@1 on WikiMEL at twice its speed, 8x with "
        "detection); model (the text model for every mention); static (vectors distilled from the text model only: "
        "fastest, a few points of Hits@1 lower)."))
    llm: str = option("unsure", table=LLM_TABLE, key="when", choices=_fixed(*WHEN), help=(
        "When LLM methods call the LLM: only when the features ranking is unsure (top-1/top-2 margin below "
        "--llm-margin), or always."))
    llm_margin: float = option(LLMOptions.margin, low=0, table=LLM_TABLE, key="margin",
                               help="Score margin under which the features ranking counts as unsure.")
    llm_budget: int | None = option(None, low=0, table=LLM_TABLE, key="budget", help=_budget_help)
    method_config: Path | None = option(None, local=True, help=(
        "TOML file with a table per method, e.g. [i2cr] alpha = 0.6, beta = 31, order = [\"ocr\", \"caption\"]; "
        "[kar] k = 5; [thinklinker] rounds = 3 (kg.toml's [link.<method>] tables hold the same)."))
    link: str = option("named", choices=_fixed(*LINK_POLICIES), help=(
        "What detected text gets linked: named (people, places, organisations, works: the names NER and the KB's "
        "capitalised names find) or all (also the concepts that training data usually links, such as \"poet\" or "
        "\"professor\", by the learned keyphraseness)."))
    coref: bool = option(True, flag="--coref/--no-coref", help=(
        "In text whose mentions are detected, link he/she/his/her... to the person mention that is the subject of "
        "their sentence (or of the nearest earlier sentence with one)."))
    detect: bool = option(True, flag="--detect/--no-detect",
                          help="Detect mentions in documents that give no spans (see --detector).")
    detector: str = option("hybrid", choices=_detector_names, help=_detector_help)

    def __post_init__(self) -> None:
        """Every surface builds this, so a bad value gets the same message from each: a NaN threshold, say,
        compares false with every score (NIL never decided)."""
        for spec in specs(type(self)):
            check(spec, getattr(self, spec.name))

    def llm_options(self) -> LLMOptions:
        return LLMOptions(when=self.llm, margin=self.llm_margin, budget=self.llm_budget)


@dataclass(frozen=True)
class OptionSpec:
    """One option of `LinkConfig` as declared, with its spellings on each surface."""

    name: str  # the field, /link's field and kg.link's keyword
    kind: type  # str, int, float, bool or Path
    optional: bool  # None is a value (unset)
    default: Any
    help_from: Callable[[], str]
    choices: Callable[[], Sequence[str]] | None
    low: float | None
    high: float | None
    table: str | None
    key: str
    local: bool
    bool_flag: str | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "KG_LINK_" + self.name.upper()

    @property
    def toml(self) -> str:
        return f"[link.{self.table}] {self.key}" if self.table else f"[link] {self.key}"

    @property
    def help(self) -> str:
        return self.help_from()


_SPECS: dict[type, list[OptionSpec]] = {}


def specs(cls: type = LinkConfig) -> list[OptionSpec]:
    """Every option of `cls`, in declaration order (read once per class: each request checks its options)."""
    if cls not in _SPECS:
        _SPECS[cls] = _read_specs(cls)
    return _SPECS[cls]


def _read_specs(cls: type) -> list[OptionSpec]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        if "help" not in f.metadata:
            continue
        kinds = [k for k in typing.get_args(hints[f.name]) if k is not type(None)] or [hints[f.name]]
        m = f.metadata
        help_from = m["help"] if callable(m["help"]) else _fixed_help(m["help"])
        out.append(OptionSpec(f.name, kinds[0], type(None) in typing.get_args(hints[f.name]), f.default, help_from,
                              m["choices"], m["low"], m["high"], m["table"], m["key"] or f.name, m["local"],
                              m["flag"]))
    return out


def _fixed_help(text: str) -> Callable[[], str]:
    return lambda: text


def check(spec: OptionSpec, value: Any) -> None:
    """An InputError naming the option (and its flag) when `value` is not one it takes."""
    if value is None and spec.optional:
        return
    want = None
    if spec.choices is not None and value not in spec.choices():
        raise InputError(f"{spec.name}: {value!r} is not one of {', '.join(spec.choices())}")
    if spec.kind in (int, float):
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not finite or (spec.kind is int and not float(value).is_integer()):
            want = "a whole number" if spec.kind is int else "a finite number"
        elif spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
            want = (f"{spec.low:g} to {spec.high:g}" if spec.high is not None else f"{spec.low:g} or more")
    elif not isinstance(value, spec.kind):
        want = spec.kind.__name__
    if want:
        raise InputError(f"{spec.name} ({spec.flag}): must be {want}, got {value!r}")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(spec: OptionSpec, value: Any, source: str) -> Any:
    """A value from the environment (text) or kg.toml as the option's type; ConfigError naming where it came from."""
    try:
        if isinstance(value, str) and spec.kind is not str:
            if spec.kind is bool:
                if value.strip().lower() not in _TRUE + _FALSE:
                    raise ValueError
                return value.strip().lower() in _TRUE
            if spec.kind is Path:
                return Path(value).expanduser()
            return spec.kind(value)
        if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    except ValueError:
        raise ConfigError(f"{spec.env if source.startswith('env') else spec.toml}: {value!r} is not "
                          f"{spec.kind.__name__} (from {source})") from None


def _from_toml(section: OpenSection, all_specs: Sequence[OptionSpec]) -> dict[str, Any]:
    """kg.toml's [link] options by name; its sub-tables other than [link.llm] must be methods' settings."""
    by_place = {(spec.table, spec.key): spec for spec in all_specs}
    out: dict[str, Any] = {}
    unknown = []
    for key, value in section.toml.items():
        if isinstance(value, dict) and key != LLM_TABLE:
            continue  # a method's table: checked by method_tables
        items = value.items() if isinstance(value, dict) else [(key, value)]
        table = key if isinstance(value, dict) else None
        for sub, v in items:
            spec = by_place.get((table, sub))
            if spec is None:
                unknown.append(f"[link.{table}] {sub}" if table else f"[link] {sub}")
            else:
                out[spec.name] = v
    if unknown:
        raise ConfigError(f"kg.toml: unknown link setting(s) {', '.join(unknown)}; known: "
                          f"{', '.join(spec.toml for spec in all_specs)}")
    return out


def method_tables(section: OpenSection) -> dict[str, dict[str, Any]]:
    """kg.toml's [link.<method>] tables, each checked against its method's settings (a typo is an error)."""
    from kg.linkers.ranking.registry import check_settings, get_method, methods

    tables = {k: v for k, v in section.toml.items() if isinstance(v, dict) and k != LLM_TABLE}
    unknown = sorted(set(tables) - set(methods()))
    if unknown:
        raise ConfigError(f"kg.toml: unknown table(s) {', '.join(f'[link.{t}]' for t in unknown)}; [link] holds "
                          f"[link.{LLM_TABLE}] and a table per method: {', '.join(methods())}")
    for name, table in tables.items():
        check_settings(name, table, get_method(name).settings, "kg.toml")
    return tables


def validate(options: Mapping[str, Any], extra: Sequence[str] = (), cls: type[LinkConfig] = LinkConfig) -> None:
    """An InputError for an unknown option name (`extra`: the caller's own, such as `write`) or a bad value, before
    any configuration is read (a spaCy pipeline checks its options when it is built)."""
    by_name = {spec.name: spec for spec in specs(cls)}
    unknown = sorted(set(options) - set(by_name) - set(extra))
    if unknown:
        raise InputError(f"unknown link option(s) {', '.join(unknown)}: use {', '.join(sorted([*by_name, *extra]))}")
    for name, value in options.items():
        if name in by_name:
            check(by_name[name], value)


def resolve(config: Config, given: Mapping[str, Any] | None = None, cls: type[LinkConfig] = LinkConfig,
            **extra: Any) -> Any:
    """The options by precedence: `given` (a flag, a request field, a keyword) > KG.open's link_* settings >
    environment > kg.toml > default. An unknown name is an InputError listing the known ones; `extra` are `cls`'s
    fields that are not link options (a LinkOptions' `write`)."""
    given = dict(given or {})
    section = config.link
    all_specs = specs(cls)
    validate({**section.flags, **given}, cls=cls)
    toml = _from_toml(section, all_specs)
    method_tables(section)
    values: dict[str, Any] = {}
    for spec in all_specs:
        if spec.name in given:
            values[spec.name] = given[spec.name]
        elif spec.name in section.flags:
            values[spec.name] = section.flags[spec.name]
        elif section.env.get(spec.env):
            values[spec.name] = _configured(spec, section.env[spec.env], f"env {spec.env}")
        elif spec.name in toml:
            values[spec.name] = _configured(spec, toml[spec.name], "kg.toml")
    return cls(**values, **extra)


def _configured(spec: OptionSpec, value: Any, source: str) -> Any:
    """A value of the environment or kg.toml, typed and checked; a bad one is a ConfigError saying where it is."""
    value = _parse(spec, value, source)
    try:
        check(spec, value)
    except InputError as exc:
        raise ConfigError(f"{exc} (from {source})") from None
    return value


def describe(config: Config) -> list[ResolvedSetting]:
    """The link options as `kg config` shows them: each value and where it came from ("flag": KG.open's link_*)."""
    section, resolved = config.link, resolve(config)
    toml = _from_toml(section, specs())
    out = []
    for spec in specs():
        source = ("flag" if spec.name in section.flags else f"env {spec.env}" if section.env.get(spec.env)
                  else "kg.toml" if spec.name in toml else "default")
        out.append(ResolvedSetting(f"link.{spec.name}", shown(getattr(resolved, spec.name)), source, spec.env,
                                   spec.help))
    return out
