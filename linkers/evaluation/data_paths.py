"""Where the benchmarks' files are: kg.toml's `[data]` (`mel`, `el_text`), KG_MEL_DATA and KG_EL_DATA. kgstore keeps
`[data]` an open section (kgstore.config.OpenSection) and knows nothing of benchmarks; this module declares and types
it. A value comes from, first to last: a flag (load_config's "data.mel", `KG.open(data_mel=...)`), the environment,
kg.toml, the default (beside the working directory: ../shared/data/...)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kg.kgstore.config import Config, OpenSection, ResolvedSetting, SettingSpec, parse_setting
from kg.kgstore.errors import ConfigError

SECTION = "data"


def _shared_data(name: str) -> Callable[[], Path]:
    return lambda: Path.cwd().parent / "shared" / "data" / name


def _path(*, env: str, help: str, folder: str) -> Any:
    return field(default_factory=_shared_data(folder), metadata={"env": env, "help": help})


@dataclass(frozen=True)
class DataPaths:
    """The benchmark folders, and where each value came from (`sources`: "data.mel" -> "env KG_MEL_DATA", "flag",
    "kg.toml" or "default", as `Config.sources`)."""

    mel: Path = _path(env="KG_MEL_DATA", folder="mel",
                      help="the MEL benchmarks (kg eval wikimel ...); default ../shared/data/mel")
    el_text: Path = _path(env="KG_EL_DATA", folder="el-text",
                          help="the text-linking benchmarks (kg eval oke-2015-train ...); default ../shared/data/el-text")
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


# each folder as a kgstore setting of `[data]`, so that it is typed and described as every other setting is
SPECS = tuple(SettingSpec(SECTION, f.name, f.metadata["env"], f.metadata["help"], Path, None)
              for f in fields(DataPaths) if f.metadata)


def _unknown(given: Mapping[str, Any], where: str, spelt: Callable[[str], str]) -> None:
    unknown = sorted(set(given) - {spec.name for spec in SPECS})
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(spelt(name) for name in unknown)}; known: "
                          f"{', '.join(spelt(spec.name) for spec in SPECS)}")


def data_paths(config: Config) -> DataPaths:
    """The benchmark folders by precedence: flag > environment > kg.toml > default. An unknown key of `[data]` (or
    flag) is a ConfigError listing the known ones."""
    section: OpenSection = config.data
    _unknown(section.flags, "settings", lambda name: f"{SECTION}.{name}")
    _unknown(section.toml, str(config.home / "kg.toml"), lambda name: f"[{SECTION}] {name}")
    values: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        if spec.name in section.flags:
            value, source = section.flags[spec.name], "flag"
        elif section.env.get(spec.env):
            value, source = section.env[spec.env], f"env {spec.env}"
        elif spec.name in section.toml:
            value, source = section.toml[spec.name], "kg.toml"
        else:
            sources[spec.key] = "default"
            continue
        values[spec.name], sources[spec.key] = parse_setting(spec, value, source).expanduser(), source
    return DataPaths(**values, sources=sources)


def describe(config: Config) -> list[ResolvedSetting]:
    """`[data]` as `kg config` shows it: each folder and where it came from."""
    paths = data_paths(config)
    return [ResolvedSetting(spec.key, str(getattr(paths, spec.name)), paths.sources[spec.key], spec.env, spec.help)
            for spec in SPECS]
