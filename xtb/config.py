"""Bot configuration: YAML file -> XTB_* environment overrides -> `--set` overrides -> typed validation.

Sections: general, venues, strategy, risk, telemetry, control, notify, alerts, sim (paper mode's
simulator). Validation errors name the key path and the expected type (`ConfigError`), never a stack
of pydantic internals.

Override precedence (later wins): the YAML file, then environment variables, then `--set key=value`.
Environment variables:
  XTB_CONFIG                 path of the config file when none is given
  XTB_LOG_LEVEL, XTB_FILE_LOG_LEVEL, XTB_ROOT_LOG_LEVEL, XTB_LOG_DIR   (the original bot's logger names)
  XTB__<section>__<key>[__<key>...]=value   any key, e.g. XTB__strategy__params__spread_bps=4
Values from the environment and `--set` are parsed as YAML scalars ("4" -> 4, "true" -> True).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)


class ConfigError(ValueError):
    """A config problem, with the offending key path in the message."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneralConfig(_Section):
    mode: Literal["paper", "live"] = "paper"
    tick_interval_ms: int = Field(default=1000, gt=0)
    log_level: str = "INFO"
    file_log_level: str = "DEBUG"
    root_log_level: str = "WARNING"
    log_dir: str = "logs"
    run_dir: str = "runs"
    lock_dir: str = Field(default="~/.xtb/locks", description="single-instance lock files live here")
    uvloop: bool = True
    gc_freeze: bool = Field(default=True, description="freeze the startup heap after start (fewer GC stalls)")
    seed: int | None = Field(default=None, description="simulator seed in paper mode")
    # The order watch (xtb/engine/order_watch.py): a live order nothing was heard of for the quiet time is
    # asked about over REST, then again after 2x, 4x ... that time, never further apart than the cap.
    order_watch_quiet_s: float = Field(default=1.0, gt=0, allow_inf_nan=False,
                                       description="ask the venue about a live order silent this long")
    order_watch_max_interval_s: float = Field(default=16.0, gt=0, allow_inf_nan=False,
                                              description="the longest gap between two checks of one order")

    @field_validator("log_level", "file_log_level", "root_log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if not isinstance(v, str) or v.upper() not in LOG_LEVELS:
            raise ValueError(f"not a log level (one of {', '.join(LOG_LEVELS)})")
        return v.upper()

    @field_validator("order_watch_max_interval_s")
    @classmethod
    def _cap_at_least_quiet(cls, v: float, info: ValidationInfo) -> float:
        quiet = info.data.get("order_watch_quiet_s")
        if quiet is not None and v < quiet:
            raise ValueError(f"must be at least general.order_watch_quiet_s ({quiet})")
        return v


class VenueConfig(_Section):
    enabled: bool = True
    symbols: list[str] = Field(default_factory=list)
    rest_url: str | None = None
    ws_url: str | None = None
    key_file: str | None = None
    account: str | None = Field(default=None, description="account id or index used for the lock and keys")
    options: dict[str, Any] = Field(default_factory=dict, description="venue-specific connector options")


def _known_venue(name: str) -> str:
    """A venue name must be a registered venue (xtb/venues/registry.py: built-in or an entry point)."""
    from xtb.venues.registry import known_venues

    known = known_venues()
    if name not in known:
        raise ValueError(f"unknown venue {name!r} (known: {', '.join(known)})")
    return name


VenueName = Annotated[str, AfterValidator(_known_venue)]


class StrategyConfig(_Section):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    #: the instance's name in logs, records and status (default: the strategy's name, then name#2, name#3)
    id: str | None = None


class TelemetryConfig(_Section):
    """What a run records (xtb.telemetry.run; docs/telemetry.md). Files go to one directory per run:
    `<general.run_dir>/<strategy>-<UTC yyyymmddThhmmssZ>/`."""

    enabled: bool = Field(default=True, description="false: no run directory, metrics, stats or records")
    prometheus_port: int | None = Field(
        default=None, ge=0, le=65535, description="metrics exporter port; absent = off, 0 = any free port"
    )
    prometheus_addr: str = Field(default="127.0.0.1", description="exporter bind address (keep it local)")
    stats_interval_s: float = Field(default=60.0, gt=0, description="trading stats line every this many seconds")
    stats_file: str = Field(default="stats.log", description="stats log, relative to the run directory")
    sqlite: bool = Field(default=True, description="record spreads, signals, orders, fills, ... to SQLite")
    sqlite_file: str = Field(default="records.sqlite", description="relative to the run directory")
    flush_interval_s: float = Field(default=0.5, gt=0, description="the SQLite writer commits at least this often")
    equity_interval_s: float = Field(default=5.0, gt=0, description="equity snapshot (SQLite) every this many s")
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="engine gauges (ring depth, open orders, REST, denials) refresh period"
    )
    journal: bool = True


class ControlConfig(_Section):
    """The bot's operator endpoint (xtb.control): HTTP on 127.0.0.1 only, bearer token required."""

    enabled: bool = True
    port: int = Field(default=0, ge=0, le=65535,
                      description="127.0.0.1 port (0: any free one; the bound port goes to <run_dir>/state)")
    token: SecretStr | None = Field(default=None, description="bearer token (default: $token_env, else "
                                    "generated per run into <run_dir>/state/control.token, mode 0600)")
    token_env: str = Field(default="XTB_CONTROL_TOKEN", min_length=1)
    panel: bool = Field(default=True, description="serve the operator's web panel on the same port (alerts and "
                        "notifications run either way)")
    history_db: str | None = Field(default=None, description="spread history kept across runs "
                                   "(default <general.run_dir>/history.sqlite)")
    push_interval_s: float = Field(default=1.0, gt=0, le=60, description="the panel's live update period")
    event_log_size: int = Field(default=2000, ge=10, description="events the panel keeps")


class AlertsConfig(_Section):
    """The bot's alert rules (xtb.control.alerts; docs/panel.md); the shipped Prometheus rules use the defaults."""

    enabled: bool = True
    api_budget_per_min: int = Field(default=2000, gt=0, description="REST requests per minute a venue allows")
    api_budget_pct: float = Field(default=80.0, gt=0, le=100, description="alert at this share of the budget")
    min_success_rate_pct: float = Field(default=80.0, ge=0, le=100)
    success_window_s: float = Field(default=600.0, gt=0)
    success_min_orders: int = Field(default=10, ge=1, description="no success-rate alert on fewer orders than this")
    inventory_stuck_s: float = Field(default=600.0, gt=0)
    consecutive_failures: int = Field(default=5, ge=1)
    stale_book_s: float = Field(default=10.0, gt=0)
    resync_storm_per_min: int = Field(default=5, ge=1)
    unresolved_s: float = Field(default=30.0, gt=0)
    latency_budget_ms: float = Field(default=50.0, gt=0, description="tick-to-order p99 budget")
    latency_window: int = Field(default=200, ge=10, description="orders in the p99")
    repeat_s: float = Field(default=600.0, gt=0, description="notify a still-firing alert again after this")


NotifyEvent = Literal["signal", "fill", "risk", "alert", "operator"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("signal", "fill", "risk", "alert", "operator")


class NotifyConfig(_Section):
    """Notification channels (apprise URLs: json://host/path, tgram://token/chat, wecombot://key, ...)."""

    urls: list[SecretStr] = Field(default_factory=list, description="apprise URLs; they hold credentials")
    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS), description="what is sent")
    queue_size: int = Field(default=1000, ge=1, description="messages waiting beyond this are dropped")

    @field_validator("urls")
    @classmethod
    def _urls_known(cls, v: list[SecretStr]) -> list[SecretStr]:
        import apprise

        for i, url in enumerate(v):
            if not apprise.Apprise().add(url.get_secret_value()):
                scheme = url.get_secret_value().split("://", 1)[0]
                raise ValueError(f"[{i}] is not a notification URL apprise knows (scheme {scheme!r})")
        return v


class SimBasisConfig(_Section):
    """One simulated venue's basis against the common fair value (xtb.sim.generator): an Ornstein-Uhlenbeck
    process plus optional jumps. Unset keys keep the simulator's defaults (0 bps mean, 4 bps amplitude,
    20 s half-life, no jumps)."""

    basis_mean_bps: float | None = None
    basis_amplitude_bps: float | None = Field(default=None, ge=0, description="stationary std of the basis, bps")
    basis_half_life_s: float | None = Field(default=None, gt=0, description="mean-reversion half-life, seconds")
    basis_jumps_per_min: float | None = Field(default=None, ge=0, description="rate of the venue's own dislocations")
    basis_jump_bps: float | None = Field(default=None, ge=0, description="std of a dislocation, bps")


class SimConfig(_Section):
    """The in-process simulator that paper mode trades against."""

    seed: int | None = Field(default=None, description="market-data and fault seed (default: general.seed)")
    updates_per_s: float = Field(default=50.0, gt=0, description="book updates per second per market")
    faults: str | dict[str, Any] | None = Field(
        default=None, description="fault profile name (none, flaky, chaos) or a fault plan mapping (xtb.sim.faults)")
    basis: dict[VenueName, SimBasisConfig] = Field(
        default_factory=dict, description="per-venue basis process, e.g. basis.lighter.basis_jumps_per_min")

    @field_validator("faults")
    @classmethod
    def _faults_parse(cls, v: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        from xtb.sim.faults import PROFILES, FaultPlan

        if isinstance(v, str) and v not in PROFILES:
            raise ValueError(f"unknown fault profile {v!r}; known: {', '.join(PROFILES)}")
        if isinstance(v, dict):
            FaultPlan.from_dict(v)  # names the bad rule or key
        return v

    def feed_options(self) -> dict[str, dict[str, Any]]:
        """Per-venue generator feed options (only the keys the config sets)."""
        return {venue: b.model_dump(exclude_none=True) for venue, b in self.basis.items()}


class XtbConfig(_Section):
    general: GeneralConfig = Field(default_factory=GeneralConfig)
    venues: dict[VenueName, VenueConfig] = Field(default_factory=dict)
    strategy: StrategyConfig
    #: more strategy instances in the same engine, on the same accounts: one lock, risk guard and rate limits
    strategies: list[StrategyConfig] = Field(default_factory=list)
    risk: dict[str, Any] = Field(default_factory=dict)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    sim: SimConfig = Field(default_factory=SimConfig)


_LOG_ENV = {
    "XTB_LOG_LEVEL": ("general", "log_level"),
    "XTB_FILE_LOG_LEVEL": ("general", "file_log_level"),
    "XTB_ROOT_LOG_LEVEL": ("general", "root_log_level"),
    "XTB_LOG_DIR": ("general", "log_dir"),
}


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_path(data: dict[str, Any], path: Sequence[str], value: Any, origin: str) -> None:
    node: dict[str, Any] = data
    for i, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: cannot set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a section")
        node = child
    node[path[-1]] = value


def apply_overrides(
    data: dict[str, Any], env: Mapping[str, str] | None = None, sets: Sequence[str] = ()
) -> dict[str, Any]:
    """Apply XTB_* environment variables and `key.path=value` strings onto a raw config dict (in place)."""
    env = os.environ if env is None else env
    for name, path in _LOG_ENV.items():
        if name in env:
            _set_path(data, path, env[name], name)
    for name, raw in env.items():
        if name.startswith("XTB__"):
            keys = [p for p in name[len("XTB__") :].split("__") if p]
            if not keys:
                raise ConfigError(f"{name}: empty key path")
            _set_path(data, [p.lower() if i == 0 else p for i, p in enumerate(keys)], _parse_scalar(raw), name)
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        _set_path(data, key.strip().split("."), _parse_scalar(raw), f"--set {key.strip()}")
    return data


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        kind = e["type"]
        if kind == "missing":
            lines.append(f"{loc}: required key is missing")
        elif kind == "extra_forbidden":
            lines.append(f"{loc}: unknown key")
        else:
            got = e.get("input")
            if "token" in loc or loc.startswith("notify.urls"):  # never echo a secret back
                lines.append(f"{loc}: {e['msg']}")
                continue
            lines.append(f"{loc}: {e['msg']} (got {got!r})")
    return "; ".join(lines)


def validate(data: Mapping[str, Any]) -> XtbConfig:
    try:
        return XtbConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid config: {_describe(err)}") from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    sets: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> XtbConfig:
    """Read, override and validate a config. `path` None falls back to $XTB_CONFIG."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get("XTB_CONFIG")
        if not path:
            raise ConfigError("no config file given and XTB_CONFIG is not set")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    apply_overrides(data, env, sets)
    return validate(data)
