// xtb operator panel: live over Server-Sent Events (/api/stream), controls over POST with the panel header.
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};
let snap = null;
let lastSeq = 0;

function fmt(x, d = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (typeof x !== "number") return String(x);
  if (x === 0) x = 0;  // no "-0"
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return x.toExponential(3);
  const text = x.toFixed(a >= 1000 ? 2 : d).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  return text === "-0" ? "0" : text;  // a tiny negative rounds to zero, not "-0"
}
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-XTB-Panel": "1" } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const resp = await fetch(path, opts);
  if (resp.status === 401 || resp.redirected) { location.href = "/login"; throw new Error("signed out"); }
  const data = await resp.json().catch(() => ({ error: "HTTP " + resp.status }));
  if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
  return data;
}

function say(id, text, ok) { const el = $(id); el.textContent = text; el.className = ok ? "good" : "bad"; }

// --- controls (each confirmed) -------------------------------------------------------------------
$("mode-toggle").onclick = async () => {
  if (!snap || !snap.mode_switchable) { say("action-msg", "this strategy has no reminder mode", false); return; }
  const next = snap.strategy_mode === "auto" ? "reminder" : "auto";
  if (!confirm(`Switch ${snap.strategy} to ${next} mode?`)) return;
  try { const r = await api("POST", "/api/mode", { mode: next }); say("action-msg", `mode: ${r.mode}`, true); loadParams(); }
  catch (e) { say("action-msg", e.message, false); }
};
$("pause-btn").onclick = async () => {
  const pause = !(snap && snap.quoting_paused);
  if (!confirm(pause ? "Pause quoting? New exposure is refused and resting orders are cancelled." : "Resume quoting?")) return;
  try { const r = await api("POST", "/api/quoting", { paused: pause }); say("action-msg", `quoting ${r.quoting_paused ? "paused" : "resumed"}`, true); }
  catch (e) { say("action-msg", e.message, false); }
};
$("flatten-btn").onclick = async () => {
  if (!confirm("Flatten ALL venues now? Orders are cancelled, positions closed reduce-only, trading stays paused.")) return;
  say("action-msg", "flattening...", true);
  try {
    const r = await api("POST", "/api/flatten", {});
    const parts = Object.entries(r.venues).map(([v, x]) => `${v}: ${x.flat ? "flat" : "NOT flat"}`);
    say("action-msg", `flatten: ${parts.join(", ")}`, r.flat);
  } catch (e) { say("action-msg", e.message, false); }
};
$("kill-btn").onclick = async () => {
  if (!confirm("KILL SWITCH: halt trading (latched), cancel everything and flatten every venue?")) return;
  try { const r = await api("POST", "/kill", { reason: "panel", flatten: true }); say("action-msg", `killed: ${r.state}, flat=${r.flat}`, r.flat); }
  catch (e) { say("action-msg", e.message, false); }
};
$("risk-apply").onclick = async () => {
  const state = $("risk-select").value;
  if (!confirm(`Set the risk state to ${state}?`)) return;
  try { const r = await api("POST", "/risk/state", { state, reason: "panel" }); say("action-msg", `risk: ${r.risk_state}`, true); }
  catch (e) { say("action-msg", e.message, false); }
};

// --- live parameters -------------------------------------------------------------------------------
function fillForm(box, prefix, specs) {
  box.innerHTML = "";
  for (const [name, spec] of Object.entries(specs)) {
    const label = document.createElement("label");
    label.title = spec.description || "";
    const input = document.createElement("input");
    input.id = prefix + name;
    input.dataset.name = name;
    input.dataset.orig = JSON.stringify(spec.value);
    input.value = spec.value === null ? "" : (typeof spec.value === "object" ? JSON.stringify(spec.value) : String(spec.value));
    label.append(name, input);
    box.append(label);
  }
}
async function loadParams() {
  const p = await api("GET", "/api/params");
  fillForm($("params-fields"), "param-", p.live);
  fillForm($("risk-fields"), "risk-", p.risk);
}
function parseValue(text, orig) {
  if (text === "" && (orig === null || typeof orig === "number")) return null;  // a limit: off
  if (typeof orig === "boolean") return text === "true";
  if (typeof orig === "number" || orig === null) { const n = Number(text); return Number.isNaN(n) ? text : n; }
  if (typeof orig === "object") { try { return JSON.parse(text); } catch (e) { return text; } }
  return text;
}
function changedFields(selector) {
  const changes = {};
  for (const input of document.querySelectorAll(selector)) {
    const orig = JSON.parse(input.dataset.orig);
    const shown = orig === null ? "" : (typeof orig === "object" ? JSON.stringify(orig) : String(orig));
    if (input.value !== shown) changes[input.dataset.name] = parseValue(input.value, orig);
  }
  return changes;
}
async function applyForm(selector, path, msgId, what) {
  const changes = changedFields(selector);
  if (!Object.keys(changes).length) { say(msgId, "nothing changed", false); return; }
  const shown = Object.entries(changes).map(([k, v]) => `${k} = ${v === null ? "off" : JSON.stringify(v)}`).join(", ");
  if (!confirm(`Change ${what} ${shown}?`)) return;
  try { await api("POST", path, { changes }); say(msgId, "applied: " + shown, true); loadParams(); }
  catch (e) { say(msgId, "refused: " + e.message, false); }
}
$("params-apply").onclick = () => applyForm("#params-fields input", "/api/params", "params-msg", "parameters");
$("risk-limits-apply").onclick = () => applyForm("#risk-fields input", "/api/risk/limits", "risk-msg", "risk limits");

// --- charts ----------------------------------------------------------------------------------------
const COLORS = ["#63b3ed", "#f6ad55", "#68d391", "#fc8181", "#b794f4", "#f687b3", "#4fd1c5", "#faf089"];
function lineChart(key, parent, title) {
  if (charts[key]) return charts[key];
  const wrap = document.createElement("div");
  wrap.className = "chart";
  const canvas = document.createElement("canvas");
  canvas.id = "chart-" + key.replace(/[^a-zA-Z0-9_-]/g, "_");
  wrap.append(canvas);
  parent.append(wrap);
  charts[key] = new Chart(canvas, {
    type: "line", data: { datasets: [] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      plugins: { title: { display: !!title, text: title, color: "#a3b1c6" }, legend: { labels: { color: "#a3b1c6", boxWidth: 10 } } },
      scales: {
        x: { type: "linear", ticks: { color: "#8a94a6", callback: (v) => `${v}s` }, title: { display: true, text: "seconds ago", color: "#8a94a6" } },
        y: { ticks: { color: "#8a94a6" } },
      },
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
    },
  });
  return charts[key];
}
function setData(chart, datasets) {
  // keep dataset objects (and their hidden state) when the labels match
  datasets.forEach((d, i) => {
    const cur = chart.data.datasets[i];
    if (cur && cur.label === d.label) { cur.data = d.data; } else { chart.data.datasets[i] = d; }
  });
  chart.data.datasets.length = datasets.length;
  chart.update("none");
}
const ago = (nowMs, ts) => (ts - nowMs) / 1000;

function renderPrices(s) {
  const byAsset = {};
  for (const p of s.positions) (byAsset[p.base] = byAsset[p.base] || []).push(`${p.venue}:${p.symbol}`);
  for (const [asset, keys] of Object.entries(byAsset)) {
    const chart = lineChart("price-" + asset, $("price-charts"), `${asset} mid`);
    setData(chart, keys.map((k, i) => ({
      label: k, borderColor: COLORS[i % COLORS.length], data: (s.prices[k] || []).map(([t, v]) => ({ x: ago(s.ts_ms, t), y: v })),
    })));
  }
}

function renderLatency(s) {
  const l = s.latency;
  $("t2o").textContent = l.count ? `${fmt(l.p50_us, 1)} µs` : "-";
  $("t2o-sub").textContent = l.count ? `p50, p99 ${fmt(l.p99_us, 1)} µs, max ${fmt(l.max_us, 1)} µs, ${l.count} orders` : "no orders yet";
  if (!l.count) return;
  let chart = charts.latency;
  if (!chart) {
    chart = charts.latency = new Chart($("latency-chart"), {
      type: "bar", data: { labels: [], datasets: [{ label: "orders", data: [], backgroundColor: "#63b3ed" }] },
      options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
        scales: { x: { ticks: { color: "#8a94a6" } }, y: { ticks: { color: "#8a94a6" } } } },
    });
  }
  chart.data.labels = l.edges_us.map((e) => `≤${e}`).concat([`>${l.edges_us[l.edges_us.length - 1]}`]);
  chart.data.datasets[0].data = l.hist;
  chart.update("none");
}

function renderPairs(s, view) {
  const box = $("view");
  if (!$("pairs-table")) {
    box.innerHTML = `<table id="pairs-table"><thead><tr><th>pair</th><th>P_A</th><th>P_B</th><th>spread</th><th>z</th>
      <th>mean ± ${fmt(view.band_k, 2)}σ</th><th>signal state</th><th>size</th><th>cost (bps)</th></tr></thead><tbody></tbody></table><div id="pair-charts"></div>`;
  }
  $("pairs-table").querySelector("tbody").innerHTML = view.pairs.map((p) => `<tr data-pair="${esc(p.name)}">
    <td>${esc(p.name)} <small>${esc(p.a)} / ${esc(p.b)}</small></td><td>${fmt(p.price_a)}</td><td>${fmt(p.price_b)}</td>
    <td class="pair-spread">${fmt(p.spread)} ${esc(p.unit || "")}</td><td class="pair-z">${fmt(p.z, 2)}</td>
    <td>${p.mean == null ? "-" : fmt(p.mean) + " ± " + fmt(p.std == null ? null : view.band_k * p.std)}</td>
    <td>${esc(p.state || "-")}</td><td>${esc(p.expected_size || "-")}</td><td>${fmt(p.cost_bps, 1)}</td></tr>`).join("");
  for (const p of view.pairs) {
    const chart = lineChart("pair-" + p.name, $("pair-charts"), `${p.name} spread (${p.unit || ""}), MA ± ${fmt(view.band_k, 2)}σ, entries ▲ exits ▼`);
    const pts = p.series;
    const k = view.band_k;
    const line = (f) => pts.filter((r) => f(r) !== null).map((r) => ({ x: ago(s.ts_ms, r[0]), y: f(r) }));
    const entries = p.markers.filter((m) => m.action.startsWith("enter") && m.spread !== null);
    const exits = p.markers.filter((m) => !m.action.startsWith("enter") && m.spread !== null);
    setData(chart, [
      { label: "spread", borderColor: "#63b3ed", data: line((r) => r[1]) },
      { label: "MA", borderColor: "#a0aec0", borderDash: [4, 3], data: line((r) => r[2]) },
      { label: `MA + ${k}σ`, borderColor: "#f6ad55", borderDash: [2, 2], data: line((r) => (r[2] === null || r[3] === null ? null : r[2] + k * r[3])) },
      { label: `MA − ${k}σ`, borderColor: "#f6ad55", borderDash: [2, 2], data: line((r) => (r[2] === null || r[3] === null ? null : r[2] - k * r[3])) },
      { label: "entry", type: "scatter", pointStyle: "triangle", pointRadius: 7, backgroundColor: "#68d391", borderColor: "#68d391",
        data: entries.map((m) => ({ x: ago(s.ts_ms, m.ts_ms), y: m.spread })) },
      { label: "exit", type: "scatter", pointStyle: "triangle", rotation: 180, pointRadius: 7, backgroundColor: "#fc8181", borderColor: "#fc8181",
        data: exits.map((m) => ({ x: ago(s.ts_ms, m.ts_ms), y: m.spread })) },
    ]);
  }
}

function renderMM(s, view) {
  const box = $("view");
  if (!$("mm-charts")) box.innerHTML = `<div id="mm-charts"></div><table id="gauges"><thead><tr><th>gauge</th><th>labels</th><th>value</th></tr></thead><tbody></tbody></table>`;
  for (const [key, rows] of Object.entries(view.markets)) {
    const chart = lineChart("mm-" + key, $("mm-charts"), `${key}: mid, reservation price, our quotes`);
    const line = (i) => rows.filter((r) => r[i] !== null).map((r) => ({ x: ago(s.ts_ms, r[0]), y: r[i] }));
    setData(chart, [
      { label: "mid", borderColor: "#a0aec0", data: line(1) },
      { label: "reservation", borderColor: "#b794f4", data: line(2) },
      { label: "our bid", borderColor: "#68d391", data: line(3) },
      { label: "our ask", borderColor: "#fc8181", data: line(4) },
    ]);
  }
  $("gauges").querySelector("tbody").innerHTML = view.gauges.map((g) => {
    const labels = Object.entries(g).filter(([k]) => k !== "name" && k !== "value").map(([k, v]) => `${k}=${v}`).join(" ");
    return `<tr><td>${esc(g.name)}</td><td>${esc(labels)}</td><td>${fmt(g.value)}</td></tr>`;
  }).join("");
}

function renderLadder(s) {
  const rows = [];
  for (const p of s.positions) for (const o of p.open_orders) rows.push({ m: `${p.venue}:${p.symbol}`, ...o });
  rows.sort((a, b) => b.price - a.price);
  $("view").innerHTML = `<table id="ladder"><thead><tr><th>market</th><th>side</th><th>price</th><th>size</th><th>filled</th></tr></thead><tbody>${
    rows.map((o) => `<tr class="${o.side === "bid" ? "good" : "bad"}"><td>${esc(o.m)}</td><td>${o.side}</td><td>${fmt(o.price)}</td><td>${fmt(o.size)}</td><td>${fmt(o.filled)}</td></tr>`).join("")
  }</tbody></table>`;
}

// --- the snapshot ----------------------------------------------------------------------------------
function render(s) {
  snap = s;
  $("title").textContent = `xtb · ${s.strategy}`;
  $("run-mode").textContent = s.run_mode;
  $("engine-state").textContent = s.engine_state;
  $("uptime").textContent = s.uptime_s == null ? "" : `up ${Math.round(s.uptime_s)} s`;
  $("mode-value").textContent = s.strategy_mode;
  $("mode-toggle").textContent = s.mode_switchable ? `Switch to ${s.strategy_mode === "auto" ? "reminder" : "auto"}` : "Mode: always auto";
  $("mode-toggle").disabled = !s.mode_switchable;
  $("quoting-state").textContent = s.quoting_paused ? "quoting paused" : "quoting on";
  $("pause-btn").textContent = s.quoting_paused ? "Resume quoting" : "Pause quoting";
  const pnl = s.pnl;
  const today = s.pnl_today || {};
  $("pnl-today").textContent = fmt(today.net);
  $("pnl-today").className = "value " + (today.net > 0 ? "good" : today.net < 0 ? "bad" : "");
  $("pnl-today-sub").textContent = today.day ? `${today.day}: ${today.runs} run(s), this one included` : "this run (no history)";
  $("pnl-net").textContent = fmt(pnl.net);
  $("pnl-net").className = "value " + (pnl.net > 0 ? "good" : pnl.net < 0 ? "bad" : "");
  $("pnl-parts").textContent = `realized ${fmt(pnl.realized)} − fees ${fmt(pnl.fees)} + unrealized ${fmt(pnl.unrealized)}`;
  $("exposure").textContent = fmt(s.net_exposure, 2);
  const rs = s.risk.risk_state;
  $("risk-state").textContent = rs;
  $("risk-state").className = "value " + (rs === "active" ? "good" : rs === "halted" ? "bad" : "warnc");
  const denied = Object.entries(s.denied || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
  $("risk-reason").textContent = (s.risk.risk_reason || "") + (denied ? ` · denied ${denied}` : "");
  $("alert-count").textContent = s.alerts.length;
  $("alert-count").className = "value " + (s.alerts.length ? "bad" : "good");
  $("alert-list").textContent = s.alerts.map((a) => a.name).join(", ");
  $("positions").querySelector("tbody").innerHTML = s.positions.map((p) => `<tr data-market="${esc(p.venue + ":" + p.symbol)}">
    <td>${esc(p.venue)}:${esc(p.symbol)}</td><td>${fmt(p.bid)}</td><td>${fmt(p.ask)}</td><td class="mid">${fmt(p.mid)}</td>
    <td class="position">${esc(p.position_text)}</td><td>${fmt(p.entry)}</td><td>${fmt(p.notional, 2)}</td><td>${p.open_orders.length}</td></tr>`).join("");
  const orders = [];
  for (const p of s.positions) for (const o of p.open_orders) orders.push(`<tr><td>${esc(p.venue)}:${esc(p.symbol)}</td><td>${o.client_id}</td>
    <td class="${o.side === "bid" ? "good" : "bad"}">${o.side}</td><td>${fmt(o.price)}</td><td>${fmt(o.size)} ${esc(p.base)}</td><td>${fmt(o.filled)}</td><td>${esc(o.state)}</td></tr>`);
  $("orders").querySelector("tbody").innerHTML = orders.join("");
  $("fills").querySelector("tbody").innerHTML = s.fills.map((f) => `<tr><td>${new Date(f.ts_ms).toLocaleTimeString()}</td>
    <td>${esc(f.venue)}:${esc(f.symbol)}</td><td class="${f.side === "bid" ? "good" : "bad"}">${f.side === "bid" ? "buy" : "sell"}</td>
    <td>${fmt(f.price)}</td><td>${fmt(f.size)} ${esc(f.base)}</td><td>${f.maker ? "yes" : "no"}</td></tr>`).join("");
  renderPrices(s);
  renderLatency(s);
  const view = s.view;
  $("view-title").textContent = { pairs: "Pairs: spread and z-score", mm: "Market making: quotes, reservation price, inventory", ladder: "Ladder: resting orders by price", orders: "Strategy" }[view.kind] || "Strategy";
  if (view.kind === "pairs") renderPairs(s, view);
  else if (view.kind === "mm") renderMM(s, view);
  else renderLadder(s);
  $("strategy-status").textContent = JSON.stringify(s.strategy_status, null, 1);
}

function addEvents(list) {
  const box = $("events");
  for (const e of list) {
    if (e.seq <= lastSeq) continue;
    lastSeq = e.seq;
    const div = document.createElement("div");
    div.className = e.level;
    div.textContent = `${new Date(e.ts_ms).toLocaleTimeString()} [${e.kind}] ${e.text}`;
    box.prepend(div);
  }
  while (box.childNodes.length > 500) box.removeChild(box.lastChild);
}

function connect() {
  const es = new EventSource(`/api/stream?after=${lastSeq}`);
  es.addEventListener("snapshot", (m) => { $("conn-state").textContent = "live"; $("conn-state").className = "good"; render(JSON.parse(m.data)); });
  es.addEventListener("events", (m) => addEvents(JSON.parse(m.data)));
  es.onerror = () => { $("conn-state").textContent = "reconnecting"; $("conn-state").className = "bad"; };
}

loadParams().catch((e) => say("params-msg", e.message, false));
connect();
