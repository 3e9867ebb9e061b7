// Bastion monitoring hub: plain JavaScript, no build step, no network but this gateway.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
};
const state = { key: sessionStorage.getItem("bastion.key"), me: null, range: sessionStorage.getItem("bastion.range") || "24h", live: null };

const fmt = {
  usd: (v) => v == null ? "—" : "$" + (Math.abs(v) >= 100 ? v.toFixed(2) : Math.abs(v) >= 1 ? v.toFixed(4) : v.toFixed(6)),
  int: (v) => v == null ? "—" : Math.round(v).toLocaleString("en-US"),
  pct: (v) => v == null ? "—" : (v * 100).toFixed(1) + "%",
  ms: (v) => v == null ? "—" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(1) + " ms",
  time: (t) => t == null ? "—" : new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19),
};

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { authorization: "Bearer " + state.key, "content-type": "application/json", ...(options.headers || {}) } });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw Object.assign(new Error((data && data.error && data.error.message) || response.statusText), { status: response.status });
  return data;
}

// --- sign-in -----------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  try {
    state.me = await api("/ui/api/me");
  } catch (error) {
    state.key = null;
    sessionStorage.removeItem("bastion.key");
    showSignIn(error.status === 401 ? "This key is not valid." : error.message);
    return;
  }
  sessionStorage.setItem("bastion.key", key);
  $("#signin-view").hidden = true;
  $("#app-view").hidden = false;
  $("#who").textContent = `${state.me.name} · ${state.me.role}` + (state.me.team_id ? ` · team ${state.me.team_id}` : state.me.org_id ? ` · org ${state.me.org_id}` : "");
  $("#nav-manage").hidden = !state.me.can_manage;
  const select = $("#range");
  select.replaceChildren(...state.me.ranges.map((r) => el("option", { value: r, selected: r === state.range }, r)));
  route();
}

function showSignIn(message = "") {
  $("#app-view").hidden = true;
  $("#signin-view").hidden = false;
  $("#signin-error").textContent = message;
}

$("#signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#key").value.trim()); });
$("#signout").addEventListener("click", () => { sessionStorage.removeItem("bastion.key"); stopLive(); state.key = null; showSignIn(); });
$("#range").addEventListener("change", (e) => { state.range = e.target.value; sessionStorage.setItem("bastion.range", state.range); route(); });
window.addEventListener("hashchange", route);

// --- charts: inline SVG ----------------------------------------------------------------------

function lineChart(points, key, label, format) {
  const w = 640, h = 180, pad = 34;
  const values = points.map((p) => p[key] ?? 0);
  const max = Math.max(...values, 0) || 1;
  const x = (i) => pad + (points.length > 1 ? (i * (w - pad - 8)) / (points.length - 1) : 0);
  const y = (v) => h - 20 - (v / max) * (h - 36);
  const path = values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const svg = `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${label}">
    <line x1="${pad}" y1="${h - 20}" x2="${w - 8}" y2="${h - 20}" stroke="#ddd"/>
    <text x="2" y="14">${format(max)}</text><text x="2" y="${h - 22}">0</text>
    <path d="${path}" fill="none" stroke="#2f6fec" stroke-width="2"/>
    <text x="${pad}" y="${h - 4}">${fmt.time(points[0]?.t).slice(5, 16)}</text>
    <text x="${w - 120}" y="${h - 4}">${fmt.time(points[points.length - 1]?.t).slice(5, 16)}</text></svg>`;
  const box = el("div", { class: "panel", "data-chart": key }, el("h3", {}, label));
  box.insertAdjacentHTML("beforeend", svg);
  return box;
}

function barChart(rows, label, key, format) {
  const top = rows.slice(0, 10), max = Math.max(...top.map((r) => r[key]), 0) || 1;
  const h = 22 * top.length + 10;
  let svg = `<svg viewBox="0 0 640 ${h}" width="100%" role="img" aria-label="${label}">`;
  top.forEach((r, i) => {
    const width = (r[key] / max) * 400;
    svg += `<text x="0" y="${i * 22 + 16}">${escapeHtml(String(r.name || r.value || "(none)")).slice(0, 28)}</text>
      <rect x="190" y="${i * 22 + 4}" width="${width.toFixed(1)}" height="14" fill="#2f6fec" rx="3"/>
      <text x="${196 + width}" y="${i * 22 + 16}">${format(r[key])}</text>`;
  });
  const box = el("div", { class: "panel" }, el("h3", {}, label));
  box.insertAdjacentHTML("beforeend", svg + "</svg>");
  return box;
}

function escapeHtml(s) { return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]); }

function table(columns, rows, onClick, id) {
  const thead = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "", "data-col": c.key }, c.label)));
  const body = el("tbody");
  const fill = (list) => body.replaceChildren(...list.map((r) => el("tr", { class: onClick ? "click" : "", "data-row": r.value ?? r.request_id ?? r.id ?? "", onclick: onClick ? () => onClick(r) : null },
    columns.map((c) => { const v = c.get ? c.get(r) : r[c.key]; return el("td", { class: c.num ? "num" : "", "data-col": c.key, "data-value": c.raw ? c.raw(r) : (typeof v === "object" ? null : v) }, v instanceof Node ? v : c.format ? c.format(v) : v ?? ""); }))));
  fill(rows);
  let sorted = null;
  thead.addEventListener("click", (e) => {
    const key = e.target.dataset.col; if (!key) return;
    const dir = sorted === key ? -1 : 1; sorted = dir === 1 ? key : null;
    fill([...rows].sort((a, b) => (a[key] > b[key] ? 1 : a[key] < b[key] ? -1 : 0) * -dir));
  });
  return el("table", { id }, el("thead", {}, thead), body);
}

function card(label, metric, value, formatted, previous) {
  let delta = "";
  if (previous !== undefined && previous !== null && value !== null) {
    if (previous === 0) delta = value ? "new" : "±0";
    else { const d = (value - previous) / Math.abs(previous); delta = (d >= 0 ? "▲ " : "▼ ") + Math.abs(d * 100).toFixed(1) + "% vs previous"; }
  }
  return el("div", { class: "card", "data-metric": metric, "data-value": value },
    el("div", { class: "label" }, label), el("div", { class: "value" }, formatted), el("div", { class: "delta" }, delta));
}

// --- pages ---------------------------------------------------------------------------------

const pages = {
  async overview() {
    const o = await api(`/ui/api/overview?range=${state.range}`);
    const c = o.current, p = o.previous;
    return [el("h2", {}, `Overview · last ${state.range}`),
      el("div", { class: "cards" },
        card("Spend", "cost", c.cost_usd, fmt.usd(c.cost_usd), p.cost_usd),
        card("Requests", "requests", c.requests, fmt.int(c.requests), p.requests),
        card("Input tokens", "prompt_tokens", c.prompt_tokens, fmt.int(c.prompt_tokens), p.prompt_tokens),
        card("Output tokens", "completion_tokens", c.completion_tokens, fmt.int(c.completion_tokens), p.completion_tokens),
        card("Cached tokens", "cached_tokens", c.cached_tokens, fmt.int(c.cached_tokens), p.cached_tokens),
        card("Error rate", "error_rate", c.error_rate, fmt.pct(c.error_rate), p.error_rate),
        card("Latency p50", "latency_p50", c.latency_p50_ms, fmt.ms(c.latency_p50_ms), p.latency_p50_ms),
        card("Latency p95", "latency_p95", c.latency_p95_ms, fmt.ms(c.latency_p95_ms), p.latency_p95_ms)),
      el("div", { class: "charts" },
        lineChart(o.series, "cost_usd", "Spend", fmt.usd), lineChart(o.series, "requests", "Requests", fmt.int),
        lineChart(o.series, "completion_tokens", "Output tokens", fmt.int), lineChart(o.series, "errors", "Errors", fmt.int))];
  },

  async breakdown(by = "app") {
    const b = await api(`/ui/api/breakdown?by=${by}&range=${state.range}`);
    const tabs = el("div", { class: "tabs" }, state.me.dimensions.map((d) => el("a", { href: `#breakdown/${d}`, class: d === by ? "active" : "", "data-dim": d }, d)));
    const columns = [
      { key: "name", label: by },
      { key: "cost_usd", label: "Spend", num: true, format: fmt.usd, raw: (r) => r.cost_nusd },
      { key: "requests", label: "Requests", num: true, format: fmt.int },
      { key: "prompt_tokens", label: "Input tok.", num: true, format: fmt.int },
      { key: "completion_tokens", label: "Output tok.", num: true, format: fmt.int },
      { key: "error_rate", label: "Errors", num: true, format: fmt.pct },
      { key: "latency_p95_ms", label: "p95", num: true, format: fmt.ms },
    ];
    return [el("h2", {}, `Breakdown by ${by} · last ${state.range}`), tabs,
      barChart(b.rows, `Spend by ${by}`, "cost_usd", fmt.usd),
      el("div", { class: "panel" }, table(columns, b.rows, (r) => { location.hash = `#requests/${by}/${encodeURIComponent(r.value)}`; }, "breakdown-table"))];
  },

  async requests(by, value) {
    const q = by ? `&by=${by}&value=${value}` : "";
    const r = await api(`/ui/api/requests?range=${state.range}${q}`);
    return [el("h2", {}, by ? `Requests of ${by} ${decodeURIComponent(value)}` : "Requests"), el("div", { class: "panel" }, requestTable(r.rows, "requests-table"))];
  },

  async request(id) {
    const r = await api(`/ui/api/request/${encodeURIComponent(id)}`);
    const live = r.live || {};
    const get = (k) => r[k] ?? live[k];
    const latency = get("latency_ms"), upstream = get("upstream_ms");
    const verdicts = live.verdicts || (r.audit && r.audit.verdicts) || [];
    const attempts = live.attempts || (r.audit && r.audit.attempts) || [];
    return [el("h2", {}, `Request ${id}`),
      el("div", { class: "panel" }, el("dl", { class: "kv", id: "request-detail" },
        ...[["Time", fmt.time(get("at"))], ["Status", get("status")], ["Error", get("error") || "—"],
          ["Organisation", get("org_id") || "—"], ["Team", get("team_id") || "—"], ["User", get("user_id") || "—"], ["Application", get("app_id") || "—"], ["Key", get("key_id") || "—"],
          ["Model", get("model")], ["Served by", get("deployment") || "—"], ["Provider", get("provider") || "—"],
          ["Tokens in / out / cached", `${fmt.int(get("prompt_tokens"))} / ${fmt.int(get("completion_tokens"))} / ${fmt.int(get("cached_tokens"))}`],
          ["Cost", fmt.usd(get("cost_usd"))], ["Latency", fmt.ms(latency)],
          ["Gateway / upstream", `${fmt.ms(latency != null && upstream != null ? latency - upstream : null)} / ${fmt.ms(upstream)}`],
          ["Time to first token", fmt.ms(get("ttft_ms"))], ["Attempts / fallbacks", `${get("attempts") && get("attempts").length !== undefined ? get("attempts").length : get("attempts") ?? "—"} / ${get("fallbacks") ?? "—"}`],
          ["Feedback", r.feedback ? `${r.feedback.score}/5 ${r.feedback.comment || ""}` : "—"]].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? "—"))]))),
      el("h3", {}, "Route"), el("div", { class: "panel" }, attempts.length ? table([{ key: "deployment", label: "Deployment" }, { key: "status", label: "Status" }, { key: "error", label: "Error" }, { key: "latency_ms", label: "Latency", num: true, format: fmt.ms }], attempts) : el("p", { class: "muted" }, "One attempt: " + (get("deployment") || "—"))),
      el("h3", {}, "Guardrail verdicts"), el("div", { class: "panel" }, verdicts.length ? table([{ key: "detector", label: "Detector" }, { key: "action", label: "Action" }, { key: "count", label: "Count", num: true }], verdicts) : el("p", { class: "muted" }, "None.")),
      el("h3", {}, "Bodies"), el("div", { class: "panel" }, r.body ? el("pre", {}, JSON.stringify(r.body, null, 2)) : el("p", { class: "muted" }, "Not kept by the logging policy."))];
  },

  async budgets() {
    const b = await api(`/ui/api/budgets?range=${state.range}`);
    const columns = [
      { key: "scope", label: "Scope" }, { key: "scope_id", label: "Id" }, { key: "period", label: "Period" },
      { key: "spent_usd", label: "Spent", num: true, format: fmt.usd }, { key: "amount_usd", label: "Limit", num: true, format: fmt.usd },
      { key: "used", label: "Used", get: (r) => el("div", { class: "bar" + (r.used > 0.9 ? " hot" : "") }, el("span", { style: `width:${Math.min(100, (r.used || 0) * 100)}%` })) },
      { key: "burn_usd_per_day", label: "Burn / day", num: true, format: fmt.usd },
      { key: "projected_exhaustion", label: "Runs out", format: (v) => v ? fmt.time(v) : "not this period" },
      { key: "resets_at", label: "Resets", format: (v) => v ? v.slice(0, 16).replace("T", " ") : "never" },
    ];
    return [el("h2", {}, "Budgets"),
      el("div", { class: "cards" }, card("Rate / budget refusals", "rejected", b.rejected, fmt.int(b.rejected)), card("Requests", "requests", b.requests, fmt.int(b.requests))),
      el("div", { class: "panel" }, b.budgets.length ? table(columns, b.budgets, null, "budgets-table") : el("p", { class: "muted" }, "No budgets are set."))];
  },

  async quality() {
    const q = await api(`/ui/api/quality?range=${state.range}`);
    const scores = [1, 2, 3, 4, 5].map((s) => ({ value: `${s}★`, count: q.scores[String(s)] || 0 }));
    const sat = [{ key: "value", label: "Name" }, { key: "feedback", label: "Feedback", num: true, format: fmt.int }, { key: "satisfaction", label: "Satisfied", num: true, format: fmt.pct }];
    return [el("h2", {}, `Quality · last ${state.range}`),
      el("div", { class: "cards" }, card("Feedback", "feedback", q.feedback, fmt.int(q.feedback)), card("Satisfaction", "satisfaction", q.satisfaction, fmt.pct(q.satisfaction)), card("Cache hit rate", "cache_hit_rate", q.cache_hit_rate, fmt.pct(q.cache_hit_rate))),
      barChart(scores, "Scores", "count", fmt.int),
      el("div", { class: "charts" }, el("div", { class: "panel" }, el("h3", {}, "By model"), table(sat, q.by_model)), el("div", { class: "panel" }, el("h3", {}, "By application"), table(sat, q.by_app))),
      el("h3", {}, "Latest comments"), el("div", { class: "panel" }, table([{ key: "at", label: "Time", format: fmt.time }, { key: "score", label: "Score" }, { key: "model", label: "Model" }, { key: "comment", label: "Comment" }], q.comments, (r) => { location.hash = `#request/${r.request_id}`; })),
      el("h3", {}, "Guardrail verdicts"), el("div", { class: "panel" }, q.verdicts.length ? table([{ key: "detector", label: "Detector" }, { key: "action", label: "Action" }, { key: "count", label: "Count", num: true }], q.verdicts.map((v) => ({ ...v, value: `${v.detector}/${v.action}` })), null, "verdicts-table") : el("p", { class: "muted" }, "None in this range."))];
  },

  async live() {
    const tbody = el("tbody");
    const view = [el("h2", {}, "Live"), el("p", { class: "muted", id: "live-status" }, "Connecting…"),
      el("div", { class: "panel" }, el("table", { id: "live-table" }, el("thead", {}, el("tr", {}, ["Time", "Status", "Model", "Served by", "Team", "App", "Tokens", "Cost", "Latency"].map((h) => el("th", {}, h)))), tbody))];
    startLive(tbody);
    return view;
  },

  async deployments() {
    const d = await api("/ui/api/deployments");
    const pill = (s) => el("span", { class: "pill " + (s === "closed" ? "ok" : s === "open" ? "bad" : "warn") }, s);
    return [el("h2", {}, "Deployments"), el("div", { class: "panel" }, d.deployments.length ? table([
      { key: "deployment", label: "Deployment" }, { key: "state", label: "Circuit", get: (r) => pill(r.state) },
      { key: "in_flight", label: "In flight", num: true }, { key: "ttft", label: "TTFT (avg)", num: true, get: (r) => fmt.ms(r.latency_ms && r.latency_ms.ttft_ewma) },
      { key: "total", label: "Latency (avg)", num: true, get: (r) => fmt.ms(r.latency_ms && r.latency_ms.total_ewma) },
      { key: "rate", label: "Error rate", num: true, get: (r) => fmt.pct(r.window && r.window.error_rate) },
      { key: "requests", label: "Requests", num: true, format: fmt.int }, { key: "last_error", label: "Last error" }], d.deployments, null, "deployments-table") : el("p", { class: "muted" }, "No deployment has served a request yet."))];
  },

  async manage() {
    const [keys, teams] = await Promise.all([api("/admin/v1/keys"), api("/admin/v1/teams")]);
    const created = el("div", { id: "created" });
    const teamOptions = [el("option", { value: "" }, "(none)"), ...teams.map((t) => el("option", { value: t.id }, t.name))];
    const keyForm = el("form", { class: "inline", id: "key-form", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target, policy = {};
      if (f.rpm.value) policy.rpm = Number(f.rpm.value);
      if (f.budget.value) policy.budget = { amount_usd: Number(f.budget.value), period: f.period.value };
      try {
        const k = await api("/admin/v1/keys", { method: "POST", body: JSON.stringify({ name: f.name.value, team_id: f.team.value || null, role: f.role.value, policy }) });
        await render("manage");
        $("#created").replaceChildren(el("p", {}, "New key (shown only this once):"), el("div", { class: "secret", id: "new-key" }, k.key));
      } catch (error) { created.textContent = error.message; }
    } },
      el("label", {}, "Name", el("input", { name: "name", required: true })),
      el("label", {}, "Team", el("select", { name: "team" }, teamOptions)),
      el("label", {}, "Role", el("select", { name: "role" }, ["user", "viewer", "admin"].map((r) => el("option", { value: r }, r)))),
      el("label", {}, "Requests/min", el("input", { name: "rpm", type: "number", min: 1 })),
      el("label", {}, "Budget (USD)", el("input", { name: "budget", type: "number", min: 0.01, step: "0.01" })),
      el("label", {}, "Period", el("select", { name: "period" }, ["daily", "weekly", "monthly", "total"].map((p) => el("option", { value: p, selected: p === "monthly" }, p)))),
      el("button", { type: "submit", id: "create-key" }, "Create key"));
    const keyColumns = [{ key: "name", label: "Name" }, { key: "prefix", label: "Prefix" }, { key: "role", label: "Role" }, { key: "team_id", label: "Team" },
      { key: "status", label: "Status", get: (k) => el("span", { class: "pill " + (k.status === "active" ? "ok" : "bad"), "data-status": k.status }, k.status) },
      { key: "actions", label: "", get: (k) => k.status === "active" ? el("button", { class: "danger", "data-revoke": k.id, onclick: async () => { if (!confirm(`Revoke ${k.name}?`)) return; await api(`/admin/v1/keys/${k.id}/revoke`, { method: "POST" }); render("manage"); } }, "Revoke") : "" }];
    const teamForm = el("form", { class: "inline", id: "team-form", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target, policy = {};
      if (f.budget.value) policy.budget = { amount_usd: Number(f.budget.value), period: f.period.value };
      if (f.rpm.value) policy.rpm = Number(f.rpm.value);
      const existing = teams.find((t) => t.name === f.name.value);
      if (existing) await api(`/admin/v1/teams/${existing.id}`, { method: "PATCH", body: JSON.stringify({ policy: { ...existing.policy, ...policy } }) });
      else await api("/admin/v1/teams", { method: "POST", body: JSON.stringify({ name: f.name.value, policy }) });
      render("manage");
    } },
      el("label", {}, "Team name", el("input", { name: "name", required: true })),
      el("label", {}, "Requests/min", el("input", { name: "rpm", type: "number", min: 1 })),
      el("label", {}, "Budget (USD)", el("input", { name: "budget", type: "number", min: 0.01, step: "0.01" })),
      el("label", {}, "Period", el("select", { name: "period" }, ["daily", "weekly", "monthly", "total"].map((p) => el("option", { value: p, selected: p === "monthly" }, p)))),
      el("button", { type: "submit" }, "Create or set limits"));
    return [el("h2", {}, "Manage"), el("h3", {}, "Keys"), el("div", { class: "panel" }, keyForm, created, table(keyColumns, keys, null, "keys-table")),
      el("h3", {}, "Teams"), el("div", { class: "panel" }, teamForm, table([{ key: "name", label: "Name" }, { key: "id", label: "Id" }, { key: "policy", label: "Policy", get: (t) => JSON.stringify(t.policy) }], teams, null, "teams-table"))];
  },
};

function requestTable(rows, id) {
  return table([
    { key: "at", label: "Time", format: fmt.time }, { key: "status", label: "Status" }, { key: "model", label: "Model" },
    { key: "deployment", label: "Served by" }, { key: "team_id", label: "Team" }, { key: "app_id", label: "App" },
    { key: "prompt_tokens", label: "In", num: true, format: fmt.int }, { key: "completion_tokens", label: "Out", num: true, format: fmt.int },
    { key: "cost_usd", label: "Cost", num: true, format: fmt.usd }, { key: "latency_ms", label: "Latency", num: true, format: fmt.ms },
  ], rows, (r) => { location.hash = `#request/${r.request_id}`; }, id);
}

// --- live: Server-Sent Events read with fetch (so the key travels in a header) ---------------

function stopLive() { if (state.live) { state.live.abort(); state.live = null; } }

async function startLive(tbody) {
  stopLive();
  const controller = new AbortController();
  state.live = controller;
  const add = (r) => {
    tbody.prepend(el("tr", { class: "click", "data-request-id": r.request_id, onclick: () => { location.hash = `#request/${r.request_id}`; } },
      el("td", {}, fmt.time(r.at)), el("td", {}, el("span", { class: "pill " + (r.status < 400 ? "ok" : "bad") }, String(r.status))), el("td", {}, r.model), el("td", {}, r.deployment || "—"),
      el("td", {}, r.team_id || "—"), el("td", {}, r.app_id || "—"), el("td", { class: "num" }, `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}`), el("td", { class: "num" }, fmt.usd(r.cost_usd)), el("td", { class: "num" }, fmt.ms(r.latency_ms))));
    while (tbody.children.length > 200) tbody.lastChild.remove();
  };
  try {
    const response = await fetch("/ui/api/live", { headers: { authorization: "Bearer " + state.key }, signal: controller.signal });
    if (!response.ok) throw new Error(response.statusText);
    const status = $("#live-status"); if (status) status.textContent = "Connected: new requests appear as they finish.";
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) add(JSON.parse(data));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") { const s = $("#live-status"); if (s) s.textContent = "Disconnected: " + error.message; }
  }
}

// --- routing -------------------------------------------------------------------------------

async function render(page, ...args) {
  const main = $("#main");
  if (page !== "live") stopLive();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page || (page === "requests" && a.dataset.page === "breakdown"));
  try {
    const content = await pages[page](...args);
    main.replaceChildren(...content);
  } catch (error) {
    if (error.status === 401) { showSignIn("Your key is no longer valid."); return; }
    main.replaceChildren(el("p", { class: "error", id: "page-error" }, error.message));
  }
}

function route() {
  if (!state.me) return;
  const [page, ...args] = (location.hash.slice(1) || "overview").split("/");
  render(pages[page] ? page : "overview", ...args);
}

if (state.key) signIn(state.key); else showSignIn();
