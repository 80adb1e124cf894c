"""The typed `risk` config section (the original bot's rules), validated with errors naming `risk.<key>`.

Keys are snake_case; the original bot's camelCase names (netMax, singleMax, dailyMax, pnlMin, pnlMax,
stopLoss, haltSeconds, shockPct, latencyMs) are accepted as aliases so its configs carry over.
Sizes are in canonical base-asset units (0.21 = 0.21 SOL whatever the venue's size scale), money in the
quote currency. Every limit is optional: an unset key disables its rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from xtb.config import ConfigError


def _alias(snake: str, camel: str) -> Any:
    return AliasChoices(snake, camel)


class RiskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # exposure (canonical base units)
    net_max: float | None = Field(None, gt=0, validation_alias=_alias("net_max", "netMax"),
                                  description="cap on |net position| per asset, summed over venues")
    net_max_by_asset: dict[str, float] = Field(default_factory=dict,
                                               validation_alias=_alias("net_max_by_asset", "netMaxByAsset"),
                                               description="per-asset net caps overriding net_max")
    venue_gross_max: float | None = Field(None, gt=0, validation_alias=_alias("venue_gross_max", "venueGrossMax"),
                                          description="cap on |position| of one asset on one venue")
    single_max: float | None = Field(None, gt=0, validation_alias=_alias("single_max", "singleMax"),
                                     description="largest single order")
    daily_max: float | None = Field(None, gt=0, validation_alias=_alias("daily_max", "dailyMax"),
                                    description="base units sent per asset per UTC day")
    # order sanity
    price_band_bps: float | None = Field(None, ge=0, validation_alias=_alias("price_band_bps", "priceBandBps"),
                                         description="no order priced more than this through the touch")
    deny_without_touch: bool = Field(True, validation_alias=_alias("deny_without_touch", "denyWithoutTouch"),
                                     description="with a price band set, deny when the touch is unknown")
    min_notional: float | None = Field(None, ge=0, validation_alias=_alias("min_notional", "minNotional"))
    max_notional: float | None = Field(None, gt=0, validation_alias=_alias("max_notional", "maxNotional"))
    max_orders: int | None = Field(None, gt=0, validation_alias=_alias("max_orders", "maxOrders"),
                                   description="orders allowed per rate_window_s")
    rate_window_s: float = Field(1.0, gt=0, validation_alias=_alias("rate_window_s", "rateWindowS"))
    # trading state
    pnl_min: float | None = Field(None, validation_alias=_alias("pnl_min", "pnlMin"))
    pnl_max: float | None = Field(None, validation_alias=_alias("pnl_max", "pnlMax"))
    stop_loss: float | None = Field(None, validation_alias=_alias("stop_loss", "stopLoss"),
                                    description="total PnL at or below this halts until the operator resumes")
    halt_seconds: float = Field(300.0, ge=0, validation_alias=_alias("halt_seconds", "haltSeconds"),
                                description="cooldown after which a rule halt lifts (0: halts latch)")
    shock_pct: float | None = Field(None, gt=0, validation_alias=_alias("shock_pct", "shockPct"),
                                    description="price move (fraction) within shock_window_s that halts")
    shock_window_s: float = Field(60.0, gt=0, validation_alias=_alias("shock_window_s", "shockWindowS"))
    latency_ms: float | None = Field(None, gt=0, validation_alias=_alias("latency_ms", "latencyMs"),
                                     description="order latency above this counts a warning")

    # drawdown bands: staged reduce when the unrealized loss enters each band
    drawdown_bands: list[float] = Field(default_factory=list,
                                        validation_alias=_alias("drawdown_bands", "drawdownBands"),
                                        description="unrealized-loss levels (quote, ascending, > 0)")
    reduce_fractions: list[float] = Field(default_factory=list,
                                          validation_alias=_alias("reduce_fractions", "reduceFractions"),
                                          description="fraction of each position closed on entering a band")
    reduce_mode: Literal["maker_first_then_taker", "maker", "taker"] = Field(
        "maker_first_then_taker", validation_alias=_alias("reduce_mode", "reduceMode"))
    reduce_cooldown_s: float = Field(120.0, ge=0, validation_alias=_alias("reduce_cooldown_s",
                                                                          "reduceCooldownSeconds"))
    reduce_maker_wait_s: float = Field(5.0, gt=0, validation_alias=_alias("reduce_maker_wait_s", "reduceMakerWaitS"),
                                       description="how long the maker leg rests before the taker finishes")
    reduce_market_trigger_pct: float | None = Field(None, gt=0, lt=1, validation_alias=_alias(
        "reduce_market_trigger_pct", "reduceOnlyMarketTriggerPct"),
        description="maker_first_then_taker: the price moving this far against the resting maker leg "
                    "(fraction of its price) sends the taker at once")
    reduce_only_threshold: float | None = Field(None, gt=0, validation_alias=_alias(
        "reduce_only_threshold", "reduceOnlyThreshold"),
        description="unrealized loss (quote) at which trading turns reduce-only and every position converges")
    reduce_max_slippage_pct: float = Field(0.0003, gt=0, lt=1, validation_alias=_alias(
        "reduce_max_slippage_pct", "reduceOnlyMaxSlippagePct"), description="taker worst price off the touch")

    @model_validator(mode="after")
    def _consistent(self) -> RiskConfig:
        if len(self.drawdown_bands) != len(self.reduce_fractions):
            raise ValueError(f"drawdown_bands ({len(self.drawdown_bands)}) and reduce_fractions "
                             f"({len(self.reduce_fractions)}) must have the same length")
        if any(b <= 0 for b in self.drawdown_bands) or any(
            a >= b for a, b in zip(self.drawdown_bands, self.drawdown_bands[1:], strict=False)
        ):
            raise ValueError(f"drawdown_bands must be > 0 and strictly ascending (got {self.drawdown_bands})")
        if any(not 0 < f <= 1 for f in self.reduce_fractions):
            raise ValueError(f"reduce_fractions must each be in (0, 1] (got {self.reduce_fractions})")
        for asset, cap in self.net_max_by_asset.items():
            if cap <= 0:
                raise ValueError(f"net_max_by_asset.{asset} must be > 0 (got {cap})")
        if self.pnl_min is not None and self.pnl_max is not None and self.pnl_min >= self.pnl_max:
            raise ValueError(f"pnl_min ({self.pnl_min}) must be below pnl_max ({self.pnl_max})")
        if self.min_notional is not None and self.max_notional is not None and self.min_notional > self.max_notional:
            raise ValueError(f"min_notional ({self.min_notional}) exceeds max_notional ({self.max_notional})")
        return self

    def net_cap(self, asset: str) -> float | None:
        return self.net_max_by_asset.get(asset, self.net_max)


def parse_risk_config(raw: Mapping[str, Any] | RiskConfig | None) -> RiskConfig:
    """Validate the raw `risk` section; a ConfigError names each offending `risk.<key>`."""
    if isinstance(raw, RiskConfig):
        return raw
    if raw is None:
        return RiskConfig.model_validate({})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"risk: expected a mapping of settings (got {type(raw).__name__})")
    try:
        return RiskConfig.model_validate(dict(raw))
    except ValidationError as err:
        parts = []
        for e in err.errors():
            loc = ".".join(str(p) for p in ("risk", *e["loc"]))
            if e["type"] == "extra_forbidden":
                parts.append(f"{loc}: unknown key")
            elif e["type"] == "value_error":
                parts.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
            else:
                parts.append(f"{loc}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("invalid config: " + "; ".join(parts)) from None
