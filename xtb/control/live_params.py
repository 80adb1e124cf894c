"""Changing a running strategy's parameters (the operator's panel): validated by the strategy's own params
class, limited to the names the strategy declares live.

    new = apply_param_changes(strategy, {"enter_z_high": 2.5})   # ParamChangeError says why not

A strategy opts in with `live_params = frozenset({...})` and may override `on_params_changed(old, new)` to
update what it derived from the old values (windows, breakers) or to refuse a change its state cannot take
(raise ValueError with the reason: the old params stay).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


class ParamChangeError(ValueError):
    """A refused change; the message names the parameter and why."""


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "params"
        msg = str(e["msg"]).removeprefix("Value error, ")  # a params class's own check: its message is the reason
        parts.append(f"{loc}: {msg} (got {e.get('input')!r})" if e["loc"] else msg)
    return "; ".join(parts)


def live_param_names(strategy: Any) -> list[str]:
    return sorted(getattr(strategy, "live_params", frozenset()))


def param_schema(strategy: Any) -> dict[str, dict[str, Any]]:
    """Per live parameter: current value, JSON-schema type and bounds, description (for the panel's form)."""
    params: BaseModel = strategy.params
    props = type(params).model_json_schema().get("properties", {})
    current = params.model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {}
    for name in live_param_names(strategy):
        spec = props.get(name, {})
        entry = {k: spec[k] for k in ("type", "description", "minimum", "maximum", "exclusiveMinimum",
                                      "exclusiveMaximum", "enum") if k in spec}
        if "anyOf" in spec:
            entry["type"] = "/".join(str(s.get("type", s.get("const", "?"))) for s in spec["anyOf"])
        entry["value"] = current.get(name)
        out[name] = entry
    return out


def apply_param_changes(strategy: Any, changes: Mapping[str, Any]) -> BaseModel:
    """Validate `changes` against the strategy's params class and swap them in; returns the new params."""
    if not isinstance(changes, Mapping) or not changes:
        raise ParamChangeError("changes: expected a non-empty object of parameter -> value")
    allowed = set(live_param_names(strategy))
    params: BaseModel = strategy.params
    known = set(type(params).model_fields)
    for name, value in changes.items():
        if name not in known:
            raise ParamChangeError(f"{name}: {strategy.name or type(strategy).__name__} has no such parameter")
        if name not in allowed:
            live = ", ".join(sorted(allowed)) or "none"
            raise ParamChangeError(f"{name}: cannot change while running (live parameters: {live})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamChangeError(f"{name}: must be a finite number (got {value!r})")
    merged = {**params.model_dump(), **dict(changes)}
    try:
        new = type(params).model_validate(merged)
    except ValidationError as e:
        raise ParamChangeError(_describe(e)) from None
    old = params
    strategy.params = new
    try:
        strategy.on_params_changed(old, new)
    except ValueError as e:
        strategy.params = old
        raise ParamChangeError(str(e)) from None
    except BaseException:
        strategy.params = old
        raise
    return new
