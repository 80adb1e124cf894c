"""Cut Backpack's published OpenAPI document down to what the simulator serves, for the contract test.

    python tools/backpack_openapi_subset.py <backpack-openapi.yml> tests/data/backpack-openapi-perp.yml

Keeps every operation the simulator serves (public and signed REST routes of `xtb.sim.backpack.server`)
with the component schemas they reference, unchanged; every other documented operation is listed under
`x-omitted-operations` ("METHOD /path"), so the coverage test can check that each of them is refused in the
venue's shape. The source is the venue's public API description (docs.backpack.exchange, OpenAPI 3.0).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from xtb.sim.backpack.server import PUBLIC_ROUTES, SIGNED_ROUTES

METHODS = ("get", "post", "put", "patch", "delete")


def refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, out)
    elif isinstance(node, list):
        for value in node:
            refs(value, out)


def subset(doc: dict[str, Any]) -> dict[str, Any]:
    served = {("GET", p) for p in PUBLIC_ROUTES} | set(SIGNED_ROUTES)
    paths: dict[str, Any] = {}
    omitted: list[str] = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            if (method.upper(), path) in served:
                paths.setdefault(path, {})[method] = item[method]
            else:
                omitted.append(f"{method.upper()} {path}")
    schemas = doc["components"]["schemas"]
    keep: set[str] = set()
    refs(paths, keep)
    frontier = set(keep)
    while frontier:
        found: set[str] = set()
        for name in frontier:
            refs(schemas[name], found)
        frontier = found - keep
        keep |= found
    return {
        "openapi": doc["openapi"],
        "info": doc["info"],
        "x-origin": "Backpack Exchange REST API description (https://docs.backpack.exchange), cut to the "
        "operations the simulator serves by tools/backpack_openapi_subset.py",
        "x-omitted-operations": omitted,
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(keep)}},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    with open(argv[2], "w", encoding="utf-8") as f:
        yaml.safe_dump(subset(doc), f, sort_keys=False, allow_unicode=True, width=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
