"""Figure tables of bench/BENCHMARKS.md, generated from saved runs (never typed by hand).

    python bench/tables.py results RUN.json              pytest-benchmark JSON (--benchmark-json) -> table
    python bench/tables.py gate GATE.json [GATE.json ..]  bench-gate runs (--xtb-save) -> ratio spread vs floors
    ... --write bench/BENCHMARKS.md                       replace the table between its markers in place

`results` lists every group: the median of its baseline_* and xtb_* cases, their ratio and, for the gated
groups, the interleaved ratio measured inside the xtb case (the gate's figure) and its floor. `gate`
summarises repeated gate runs of an unchanged tree: runs, min / median / max ratio per group, how many runs
passed each floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate import DEFAULT_FLOORS, Floor, GateConfigError, load_floors


def _fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    if us >= 10:
        return f"{us:.1f} µs"
    return f"{us:.3f} µs"


def results_table(run: dict[str, Any], floors: dict[str, Floor]) -> str:
    groups: dict[str, dict[str, Any]] = {}
    for b in run.get("benchmarks", []):
        name, group = b["name"], b.get("group") or b["name"]
        side = "baseline" if name.startswith("test_baseline") else "xtb" if name.startswith("test_xtb") else None
        if side is None:
            continue
        g = groups.setdefault(group, {"baseline": [], "xtb": []})
        extra = b.get("extra_info") or {}
        # A suite that times its own rounds (tick to order) reports them as p50_us: that is its figure.
        median = extra["p50_us"] * 1e-6 if isinstance(extra.get("p50_us"), int | float) else b["stats"]["median"]
        g[side].append((name.removeprefix(f"test_{side}_"), median, extra))
    info = run.get("machine_info", {})
    lines = [
        f"Run: {run.get('datetime', '?')}, {info.get('cpu', {}).get('brand_raw', '?')}, "
        f"CPython {info.get('python_version', '?')}; medians per round as pytest-benchmark measured them (the "
        "suite's own per-round p50 where it times its rounds itself).",
        "",
        "| group | baseline case: median | xtb case: median | ratio of medians | interleaved ratio (gate) | floor |",
        "|---|---|---|---|---|---|",
    ]
    for group in sorted(groups):
        g = groups[group]
        for name, median, extra in g["xtb"]:
            base = g["baseline"][0] if g["baseline"] else None
            ratio = f"{base[1] / median:.2f}x" if base else "—"
            inter = extra.get("interleaved_ratio")
            floor = floors.get(group)
            lines.append(
                f"| `{group}` | {f'{base[0]}: {_fmt_us(base[1])}' if base else '—'} | {name}: {_fmt_us(median)} "
                f"| {ratio} | {f'{inter:.2f}x' if isinstance(inter, int | float) else '—'} "
                f"| {f'{floor.ratio:.2f}x' if floor else '—'} |"
            )
    return "\n".join(lines)


def gate_table(runs: list[dict[str, dict[str, float]]], floors: dict[str, Floor]) -> str:
    lines = [
        f"{len(runs)} gate runs of an unchanged tree (`pytest bench -m gate --xtb-save NAME`), each ratio "
        "the interleaved median ratio (and p99 ratio) of one run.",
        "",
        "| group | floor | ratio min / median / max | runs at or above the floor | p99 floor | p99 ratio min / median "
        "| runs at or above the p99 floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for group in sorted({g for r in runs for g in r}):
        ratios = [r[group]["ratio"] for r in runs if group in r]
        p99s = [r[group]["p99_ratio"] for r in runs if group in r]
        floor = floors.get(group)
        ok = sum(x >= floor.ratio for x in ratios) if floor else len(ratios)
        p99_floor = floor.p99_ratio if floor else None
        p99_ok = f"{sum(x >= p99_floor for x in p99s)}/{len(p99s)}" if p99_floor else "—"
        lines.append(
            f"| `{group}` | {f'{floor.ratio:.2f}x' if floor else '—'} | {min(ratios):.2f} / "
            f"{statistics.median(ratios):.2f} / {max(ratios):.2f} | {ok}/{len(ratios)} "
            f"| {f'{p99_floor:.2f}x' if p99_floor else '—'} | {min(p99s):.2f} / {statistics.median(p99s):.2f} "
            f"| {p99_ok} |"
        )
    return "\n".join(lines)


def write_between_markers(doc: Path, name: str, table: str) -> None:
    begin, end = f"<!-- generated:{name} begin -->", f"<!-- generated:{name} end -->"
    text = doc.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{doc}: no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{table}\n{end}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=("results", "gate"))
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--floors", type=Path, default=DEFAULT_FLOORS)
    ap.add_argument("--write", type=Path, help="markdown file whose generated:<kind> block to replace")
    args = ap.parse_args(argv)
    try:
        floors = load_floors(args.floors)
        loaded = [json.loads(f.read_text(encoding="utf-8")) for f in args.files]
    except GateConfigError as e:
        raise SystemExit(str(e)) from None
    except (OSError, ValueError) as e:
        raise SystemExit(f"bench tables: cannot read a run: {e}") from None
    if args.kind == "results":
        if len(loaded) != 1:
            raise SystemExit("results: give exactly one pytest-benchmark JSON file")
        table = results_table(loaded[0], floors)
    else:
        table = gate_table([run["groups"] for run in loaded], floors)
    if args.write:
        write_between_markers(args.write, args.kind, table)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
