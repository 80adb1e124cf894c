"""Strategy registry: name -> (strategy class, typed params class).

Strategies shipped in `strategies/` register with the `register_strategy` decorator when their module
is imported; third-party packages register through the `xtb.strategies` entry-point group, whose
entries point at a module (imported for its decorators) or at a strategy class.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ENTRY_POINT_GROUP = "xtb.strategies"


class StrategyNotFound(KeyError):
    pass


@dataclass(frozen=True)
class StrategySpec:
    name: str
    cls: type
    params: type[BaseModel]
    summary: str

    def parse_params(self, raw: dict[str, Any]) -> BaseModel:
        """Validate raw params; errors name `strategy.params.<field>` and the expected type."""
        try:
            params = self.params.model_validate(raw)
        except ValidationError as err:
            parts = []
            for e in err.errors():
                loc = ".".join(str(p) for p in e["loc"])
                if e["type"] == "extra_forbidden":
                    parts.append(f"strategy.params.{loc}: unknown parameter for {self.name}")
                elif e["type"] == "missing":
                    parts.append(f"strategy.params.{loc}: required")
                else:
                    parts.append(f"strategy.params.{loc}: {e['msg']} (got {e.get('input')!r})")
            raise ValueError("; ".join(parts)) from None
        bad = list(_out_of_range(params, "strategy.params"))
        if bad:
            raise ValueError("; ".join(bad))
        return params


#: No strategy parameter is a number this large: a quantity, price, budget or duration past it is a typo
#: (e.g. "1e30") that would otherwise overflow on every tick.
MAX_PARAM_MAGNITUDE = 10**15


def _out_of_range(value: Any, key: str) -> Iterator[str]:
    """Keys of numbers that are not finite or beyond MAX_PARAM_MAGNITUDE, through nested models and lists."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float, Decimal)):
        if isinstance(value, (float, Decimal)) and not math.isfinite(value):
            yield f"{key}: must be a finite number (got {value})"
        elif abs(Decimal(value)) > MAX_PARAM_MAGNITUDE:
            yield f"{key}: {value} is out of range (at most {MAX_PARAM_MAGNITUDE:.0e} in magnitude)"
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _out_of_range(getattr(value, name), f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _out_of_range(item, f"{key}.{i}")
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _out_of_range(item, f"{key}.{k}")


_REGISTRY: dict[str, StrategySpec] = {}
_discovered = False

T = TypeVar("T", bound=type)


def register_strategy(name: str, params: type[BaseModel]) -> Callable[[T], T]:
    """Class decorator: make a strategy available to configs and `xtb strategies` by `name`."""

    def deco(cls: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"strategy name {name!r} is already registered by {existing.cls.__module__}")
        doc = (cls.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = StrategySpec(name, cls, params, doc[0] if doc else "")
        if isinstance(cls, type) and not cls.__dict__.get("name"):
            cls.name = name  # type: ignore[attr-defined]  # Strategy.name: the registered name
        return cls

    return deco


def discover() -> None:
    """Import the bundled strategies package and every `xtb.strategies` entry point (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    try:
        pkg = importlib.import_module("strategies")
    except ModuleNotFoundError:
        pkg = None
    if pkg is not None and getattr(pkg, "__file__", None) is None:
        # A directory named `strategies` without __init__.py earlier on sys.path (a test folder, a
        # checkout) makes a namespace package that hides the bundled one: say so instead of finding nothing.
        raise ImportError(
            f"'strategies' resolves to a namespace package at {list(getattr(pkg, '__path__', []))}, which "
            "hides xtb's bundled strategies; rename that directory or fix sys.path"
        )
    if pkg is not None:
        for mod in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"strategies.{mod.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def get_strategy(name: str) -> StrategySpec:
    discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise StrategyNotFound(f"unknown strategy {name!r} (known: {known})") from None


def all_strategies() -> list[StrategySpec]:
    discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
