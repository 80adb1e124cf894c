"""The Grafana dashboard uses exactly the exported metric names."""

import json
import re
from pathlib import Path

from xtb.telemetry.metrics import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "xtb" / "telemetry" / "grafana" / "xtb_dashboard.json"
PROMQL_WORDS = {"rate", "increase", "histogram_quantile", "sum", "by", "le", "venue", "trigger"}


def exposed_names() -> dict[str, str]:
    """Exposed sample name -> its family."""
    names = {}
    for f in FAMILIES:
        if f.kind == "counter":
            names[f.name + "_total"] = f.name
        elif f.kind == "histogram":
            names.update({f.name + s: f.name for s in ("_bucket", "_sum", "_count")})
        else:  # gauges, and the original board's counters, which keep their own names
            names[f.name] = f.name
    return names


def test_every_panel_metric_is_exported_and_every_family_is_shown():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    used = set()
    for p in panels:
        assert p["targets"], p["title"]
        for t in p["targets"]:
            expr = re.sub(r"\[[^\]]*\]", "", t["expr"])  # drop range selectors like [5m]
            for name in re.findall(r"[a-z_][a-z0-9_]*", expr):
                if name.startswith(("mm_", "xtb_")):
                    used.add(name)
                else:
                    assert name in PROMQL_WORDS, (p["title"], name)
    exposed = exposed_names()
    assert used <= set(exposed), used - set(exposed)
    stems = {exposed[n] for n in used}
    assert {f.name for f in FAMILIES} <= stems, {f.name for f in FAMILIES} - stems


def test_the_boards_counters_are_exposed_without_a_total_suffix():
    from xtb.telemetry.metrics import Metrics

    m = Metrics()
    m.mm_total_fills.labels(venue="lighter", symbol="SOL", side="bid").inc(2)
    m.mm_orders_placed_count.labels(venue="lighter", symbol="SOL", side="ask").inc()
    m.mm_orders_canceled_count.labels(venue="lighter", symbol="SOL").inc(3)
    from prometheus_client import generate_latest

    text = generate_latest(m.registry).decode()
    assert 'mm_total_fills{side="bid",symbol="SOL",venue="lighter"} 2.0' in text
    assert 'mm_orders_placed_count{side="ask",symbol="SOL",venue="lighter"} 1.0' in text
    assert 'mm_orders_canceled_count{symbol="SOL",venue="lighter"} 3.0' in text
    assert "mm_total_fills_total" not in text and "# TYPE mm_total_fills untyped" in text
    assert m.registry.get_sample_value("mm_total_fills", {"venue": "lighter", "symbol": "SOL", "side": "bid"}) == 2
