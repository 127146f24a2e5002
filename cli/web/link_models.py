"""/link's request model, generated from the one definition of the link options (kg.linkers.config.LinkConfig): its
fields, types, bounds and descriptions are the options', so a new option appears in the API and its OpenAPI schema
without a line here. Defaults are the server's own (its flags, environment and kg.toml), as the schema shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from kg.linkers.config import LinkConfig, specs

# what a request decides beside the link options: they are no setting of the server
REQUEST_FIELDS: dict[str, Any] = {
    "explain": (bool, Field(False, description="add each mention's `explain`: candidates with features, retrieved "
                                               "list, trace")),
    "write": (bool, Field(False, description="write Document, Mention and REFERS_TO into the graph, as `kg link` "
                                             "does")),
}


def options_model(defaults: LinkConfig) -> type[BaseModel]:
    """`LinkOptionsIn`: every option of `defaults`' class but the server's files (`local`: --weights,
    --method-config), defaulting to `defaults`' values; unknown fields are refused."""
    fields: dict[str, Any] = {}
    for spec in specs(type(defaults)):
        if spec.local:
            continue
        annotation: Any = spec.kind | None if spec.optional else spec.kind
        choices = f" (one of {', '.join(spec.choices())})" if spec.choices is not None else ""
        fields[spec.name] = (annotation, Field(getattr(defaults, spec.name), ge=spec.low, le=spec.high,
                                               description=spec.help + choices))
    return create_model("LinkOptionsIn", __config__=ConfigDict(extra="forbid"),
                        __doc__="The link options of `kg link` (same names; defaults: this server's).",
                        **fields, **REQUEST_FIELDS)


def link_models(defaults: LinkConfig, base: type[BaseModel]) -> type[BaseModel]:
    """`LinkIn`: `base` (the document's fields) with `options`."""
    options = options_model(defaults)
    return create_model("LinkIn", __base__=base, __doc__=base.__doc__,
                        options=(options, Field(default_factory=options)))
