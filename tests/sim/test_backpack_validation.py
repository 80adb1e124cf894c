"""Backpack front-end validation: malformed values get the venue's 4xx `{code, message}`, never a 5xx, and a
refused request changes nothing. Signatures are checked over the values as received.

The fuzz test throws arbitrary JSON values (and arbitrary query text) at every field of every signed
endpoint the simulator serves, against a live server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from nacl.signing import SigningKey

from xtb.sim.backpack import auth, validate
from xtb.sim.backpack.server import SIGNED_ROUTES
from xtb.sim.engine import Exchange

from .proto_helpers import ThreadedCluster, http_call

pytestmark = pytest.mark.timeout(120)

SYMBOL = "SOL_USDC_PERP"
GOOD_ORDER = {"symbol": SYMBOL, "side": "Bid", "orderType": "Limit", "price": "100", "quantity": "1"}
# A valid request per signed route; the fuzz test replaces one field of it.
BASE_PARAMS: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/order"): GOOD_ORDER,
    ("POST", "/api/v1/orders"): [GOOD_ORDER],
    ("GET", "/api/v1/order"): {"symbol": SYMBOL, "orderId": "1"},
    ("DELETE", "/api/v1/order"): {"symbol": SYMBOL, "orderId": "1"},
    ("GET", "/api/v1/orders"): {},
    ("DELETE", "/api/v1/orders"): {"symbol": SYMBOL},
    ("GET", "/api/v1/position"): {},
    ("GET", "/api/v1/capital"): {},
    ("GET", "/api/v1/capital/collateral"): {},
    ("GET", "/api/v1/account"): {},
    ("PATCH", "/api/v1/account"): {},
    ("GET", "/api/v1/account/limits/order"): {"symbol": SYMBOL, "side": "Bid"},
    ("GET", "/wapi/v1/history/orders"): {},
    ("GET", "/wapi/v1/history/fills"): {},
    ("GET", "/wapi/v1/history/funding"): {},
    ("GET", "/wapi/v1/history/settlement"): {},
    ("GET", "/wapi/v1/history/position"): {},
}


class Client:
    """Signs and sends raw requests: bodies exactly as given (bytes), signatures over what the venue
    reads from them."""

    def __init__(self, base: str, secret_b64: str) -> None:
        self.base = base
        self.key = SigningKey(base64.b64decode(secret_b64))
        self.api_key = base64.b64encode(bytes(self.key.verify_key)).decode()

    def headers(self, message: str, ts: str, window: str = "5000") -> dict[str, str]:
        sig = self.key.sign(message.encode("utf-8", "surrogatepass")).signature
        return {
            "X-API-Key": self.api_key,
            "X-Signature": base64.b64encode(sig).decode(),
            "X-Timestamp": ts,
            "X-Window": window,
            "Content-Type": "application/json; charset=utf-8",
        }

    def body(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        ts = str(time.time_ns() // 1_000_000)
        instruction = auth.INSTRUCTIONS[(method, path)]
        try:
            parsed = validate.parse_body(body) if body.strip() else {}
        except Exception:
            parsed = {}  # the server refuses it before looking at the signature
        if isinstance(parsed, list) and all(isinstance(p, dict) for p in parsed):
            message = auth.batch_signing_string(instruction, parsed, ts, "5000")
        else:
            message = auth.signing_string(instruction, parsed if isinstance(parsed, dict) else {}, ts, "5000")
        status, _, raw = http_call(self.base, method, path, body, self.headers(message, ts))
        return status, _decode(raw)

    def query(self, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, str], Any]:
        ts = str(time.time_ns() // 1_000_000)
        message = auth.signing_string(auth.INSTRUCTIONS[("GET", path)], MultiDict(pairs), ts, "5000")
        target = path + ("?" + urlencode(pairs) if pairs else "")
        status, headers, raw = http_call(self.base, "GET", target, None, self.headers(message, ts))
        return status, headers, _decode(raw)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ThreadedCluster, Client, int]]:
    cluster = ThreadedCluster(venues=("backpack",))
    try:
        _, secret, account = cluster.call(cluster.sim.add_backpack_account)
        client = Client(cluster.sim.urls()["backpack"]["rest"], secret)
        yield cluster, client, account
    finally:
        cluster.close()


def _snapshot(ex: Exchange, account: int) -> Any:
    return (
        sorted((o.order_id, o.status, o.quantity, o.filled, o.price) for o in ex.open_orders(account)),
        ex.balance(account),
        ex.positions(account),
        len(ex.order_history(account)),
        ex.account_config(account).leverage,
    )


def state(live: tuple[ThreadedCluster, Client, int]) -> Any:
    cluster, _, account = live
    return cluster.call(_snapshot, cluster.sim.venues["backpack"].exchange, account)


def _invalid(status: int, body: Any, field: str | None = None) -> bool:
    ok = status == 400 and isinstance(body, dict) and body.get("code") == "INVALID_CLIENT_REQUEST"
    return ok and (field is None or field in body["message"])


# ---------------------------------------------------------------- the cases, one by one


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("side", ["Bid"]),
        ("side", {"Bid": 1}),
        ("orderType", ["Limit"]),
        ("timeInForce", {"x": "GTC"}),
        ("selfTradePrevention", ["RejectTaker"]),
        ("price", "1e999999"),
        ("quantity", "1e999999"),
        ("quantity", "1e5000"),
        ("price", "NaN"),
        ("quantity", "sNaN"),
        ("price", "Infinity"),
        ("price", "1_000"),
        ("price", "١٢٣"),
        ("clientId", 1.5),
        ("clientId", "7"),
        ("clientId", 2**32),
        ("clientId", -1),
        ("postOnly", "yes"),
        ("reduceOnly", 1),
        ("brokerId", 70000),
    ],
)
def test_malformed_order_fields_are_the_venues_400(
    live: tuple[ThreadedCluster, Client, int], field: str, value: Any
) -> None:
    _, client, _ = live
    before = state(live)
    status, body = client.body("POST", "/api/v1/order", json.dumps(dict(GOOD_ORDER, **{field: value})).encode())
    assert _invalid(status, body, f"`{field}`"), (status, body)
    assert state(live) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_invalid_json(live: tuple[ThreadedCluster, Client, int], token: str) -> None:
    _, client, _ = live
    raw = (f'{{"symbol":"{SYMBOL}","side":"Ask","orderType":"Market","quoteQuantity":{token}}}').encode()
    status, body = client.body("POST", "/api/v1/order", raw)
    assert _invalid(status, body) and "JSON" in body["message"]


def test_wide_client_id_is_a_validation_error_not_a_bad_signature(
    live: tuple[ThreadedCluster, Client, int],
) -> None:
    """The client signs `clientId=<its text>`; the server verifies over the same text (not a float copy),
    then refuses the value as a u32."""
    _, client, _ = live
    cid = 2**70 + 1
    order = dict(GOOD_ORDER, clientId=cid)
    ts = str(time.time_ns() // 1_000_000)
    message = auth.signing_string("orderExecute", order, ts, "5000")  # str(int): what bpx-py signs
    assert f"clientId={cid}&" in message
    status, _, raw = http_call(
        client.base, "POST", "/api/v1/order", json.dumps(order).encode(), client.headers(message, ts)
    )
    assert _invalid(status, json.loads(raw), "`clientId`")


@pytest.mark.parametrize(("header", "value"), [("X-Timestamp", "17²"), ("X-Window", "5²"), ("X-Window", "٥٠٠٠")])
def test_unicode_digits_in_auth_headers(live: tuple[ThreadedCluster, Client, int], header: str, value: str) -> None:
    _, client, _ = live
    ts = str(time.time_ns() // 1_000_000)
    headers = client.headers("instruction=balanceQuery", ts)
    headers[header] = value
    status, _, raw = http_call(
        client.base, "GET", "/api/v1/capital", None, {k: v.encode().decode("latin-1") for k, v in headers.items()}
    )
    body = json.loads(raw)
    assert status == 400 and body["code"] == "INVALID_CLIENT_REQUEST" and header in body["message"]


@pytest.mark.parametrize(
    ("path", "pairs", "field"),
    [
        ("/api/v1/klines", [("symbol", SYMBOL), ("interval", "7m"), ("startTime", "0")], "interval"),
        ("/api/v1/klines", [("symbol", SYMBOL), ("interval", "1h"), ("startTime", "1.5")], "startTime"),
        ("/api/v1/markets", [("marketType", "FUTURES")], "marketType"),
        ("/api/v1/markPrices", [("marketType", "x")], "marketType"),
        ("/api/v1/ticker", [("symbol", SYMBOL), ("interval", "1y")], "interval"),
        ("/api/v1/trades", [("symbol", SYMBOL), ("limit", "70000")], "limit"),
    ],
)
def test_garbage_public_query_parameters(
    live: tuple[ThreadedCluster, Client, int], path: str, pairs: list[tuple[str, str]], field: str
) -> None:
    _, client, _ = live
    status, _, raw = http_call(client.base, "GET", path + "?" + urlencode(pairs))
    assert _invalid(status, json.loads(raw), f"`{field}`")


def test_garbage_signed_query_parameters(live: tuple[ThreadedCluster, Client, int]) -> None:
    _, client, _ = live
    for path, pairs, field in [
        ("/wapi/v1/history/orders", [("sortDirection", "Sideways")], "sortDirection"),
        ("/wapi/v1/history/fills", [("marketType", "PERP"), ("marketType", "MOON")], "marketType"),
        ("/wapi/v1/history/fills", [("limit", "-1")], "limit"),
        ("/api/v1/orders", [("marketType", "perp")], "marketType"),
    ]:
        status, _, body = client.query(path, pairs)
        assert _invalid(status, body, f"`{field}`"), (path, status, body)


def test_market_type_filters(live: tuple[ThreadedCluster, Client, int]) -> None:
    _, client, _ = live
    status, _, raw = http_call(client.base, "GET", "/api/v1/markets?marketType=SPOT")
    assert (status, json.loads(raw)) == (200, [])
    status, _, raw = http_call(client.base, "GET", "/api/v1/markets?marketType=SPOT&marketType=PERP")
    assert status == 200 and {m["marketType"] for m in json.loads(raw)} == {"PERP"}
    status, _, body = client.query("/wapi/v1/history/orders", [("marketType", "SPOT")])
    assert (status, body) == (200, [])


# ---------------------------------------------------------------- batches


def test_a_malformed_order_refuses_the_whole_batch(live: tuple[ThreadedCluster, Client, int]) -> None:
    _, client, _ = live
    before = state(live)
    batch = [GOOD_ORDER, dict(GOOD_ORDER, side=["Bid"])]
    status, body = client.body("POST", "/api/v1/orders", json.dumps(batch).encode())
    assert _invalid(status, body, "`[1].side`")
    assert state(live) == before  # the good order was not placed either
    status, body = client.body("POST", "/api/v1/orders", json.dumps([GOOD_ORDER, 7]).encode())
    assert status == 400 and state(live) == before


def test_a_batch_reports_every_order_it_placed(live: tuple[ThreadedCluster, Client, int]) -> None:
    cluster, client, account = live
    ex = cluster.sim.venues["backpack"].exchange
    batch = [
        dict(GOOD_ORDER, clientId=501),
        dict(GOOD_ORDER, price="100.001", clientId=502),
        dict(GOOD_ORDER, clientId=503),
    ]
    status, body = client.body("POST", "/api/v1/orders", json.dumps(batch).encode())
    assert status == 200 and [r["operation"] for r in body] == ["Ok", "Err", "Ok"]
    open_ids = cluster.call(lambda: {o.client_id for o in ex.open_orders(account)})
    reported = {r["clientId"] for r in body if r["operation"] == "Ok"}
    assert reported == {501, 503} and reported <= open_ids
    assert 502 not in open_ids
    cluster.call(ex.cancel_all, account, None)


# ---------------------------------------------------------------- fuzz: every field of every signed endpoint

_INTERESTING = st.sampled_from(
    ["1e999999", "1e5000", "NaN", "sNaN", "-Infinity", "1.5", "-1", "0", "²", "١٢٣", "", " 1", "1_0",
     "Bid", "Limit", "GTC", "PERP", "SPOT", "Asc", "true", "18446744073709551616", "0x10"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
    | _INTERESTING
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
QUERY_TEXT = _INTERESTING | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def well_typed(kind: validate.Kind, in_query: bool) -> st.SearchStrategy[Any]:
    """Values of the field's documented type, so requests also get past validation into the venue."""
    if kind.name == "enum":
        return st.sampled_from(kind.values)
    if kind.name == "bool":
        return st.sampled_from(["true", "false"]) if in_query else st.booleans()
    if kind.name == "decimal":
        number = st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False)
        return st.one_of(number.map(lambda d: format(d, "f")), st.sampled_from(["1e3", "0.5e-2", "141", "0"]))
    if kind.name == "integer":
        low, high = (-(2 ** (kind.bits - 1)), 2 ** (kind.bits - 1) - 1) if kind.signed else (0, 2**kind.bits - 1)
        ints = st.integers(low, high)
        return ints.map(str) if in_query else ints
    if kind.name == "id":
        return st.integers(0, 2**64 - 1).map(str)
    return st.sampled_from([SYMBOL, "BTC_USDC_PERP", "NOPE", ""]) | st.text(max_size=8)


def _fields(route: tuple[str, str]) -> dict[str, validate.Kind]:
    schema = validate.SCHEMAS.get(route)
    return {**(dict(schema.fields) if schema is not None else {}), "unknownField": validate.STRING}


@st.composite
def mutation(draw: st.DrawFn, route: tuple[str, str]) -> dict[str, Any]:
    """One to three fields replaced, each by a well-typed value or by anything at all."""
    fields = _fields(route)
    names = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True))
    in_query = route[0] == "GET"
    anything = QUERY_TEXT if in_query else JSON_VALUES
    return {name: draw(well_typed(fields[name], in_query) | anything) for name in names}


@pytest.mark.parametrize("route", sorted(SIGNED_ROUTES), ids=[f"{m} {p}" for m, p in sorted(SIGNED_ROUTES)])
def test_any_value_in_any_field_is_never_a_server_error(
    live: tuple[ThreadedCluster, Client, int], route: tuple[str, str]
) -> None:
    method, path = route
    _, client, _ = live
    base = BASE_PARAMS[route]

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutation(route))
    def check(changes: dict[str, Any]) -> None:
        before = state(live)
        if method == "GET":
            pairs = [(k, v) for k, v in base.items() if k not in changes] + list(changes.items())
            status, _, body = client.query(path, pairs)
        else:
            params: Any = [dict(base[0], **changes)] if isinstance(base, list) else dict(base, **changes)
            status, body = client.body(method, path, json.dumps(params).encode())
        assert status < 500, (method, path, changes, status, body)
        if status >= 400:
            assert isinstance(body, dict) and set(body) == {"code", "message"}, body
            assert state(live) == before, (method, path, changes, body)

    check()
