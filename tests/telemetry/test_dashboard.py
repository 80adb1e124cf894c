"""The Grafana dashboard uses exactly the exported metric names."""

import json
import re
from pathlib import Path

from xtb.telemetry.metrics import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "xtb" / "telemetry" / "grafana" / "xtb_dashboard.json"
PROMQL_WORDS = {"rate", "increase", "histogram_quantile", "sum", "by", "le", "venue", "trigger"}


def exposed_names() -> set[str]:
    names = set()
    for f in FAMILIES:
        if f.kind == "counter":
            names.add(f.name + "_total")
        elif f.kind == "histogram":
            names |= {f.name + "_bucket", f.name + "_sum", f.name + "_count"}
        else:
            names.add(f.name)
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
    assert used <= exposed, used - exposed
    stems = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert {f.name for f in FAMILIES} <= stems, {f.name for f in FAMILIES} - stems
