"""The view's one stylesheet and one small script, served from ``/static/`` (nothing from a CDN).

The script only reads: it sorts and filters tables in the page, and while
"live" is ticked it polls ``/api/head`` and, when the log has grown, fetches
the same page again and swaps its ``<main>`` in (keeping sort and filters).
"""

from __future__ import annotations

CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --card:#fff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:var(--ink); background:var(--bg); }
header.top { display:flex; align-items:center; gap:24px; padding:10px 24px; background:#0f172a; color:#e2e8f0; }
header.top .brand { font-weight:700; letter-spacing:.02em; color:#fff; text-decoration:none; }
header.top nav a { color:#cbd5e1; text-decoration:none; margin-right:16px; }
header.top nav a.active, header.top nav a:hover { color:#fff; }
header.top .head { margin-left:auto; font-size:12px; color:#94a3b8; display:flex; gap:14px; align-items:center; }
header.top .head code { color:#e2e8f0; }
main { max-width:1180px; margin:0 auto; padding:20px 24px 48px; }
h1 { font-size:22px; margin:4px 0 4px; word-break:break-word; }
h2 { font-size:16px; margin:0 0 10px; }
.crumbs { font-size:12px; color:var(--muted); }
.crumbs a { color:var(--muted); }
.sub { color:var(--muted); margin:0 0 16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin:0 0 16px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:10px; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:8px 12px; }
.stat .k { font-size:11px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.stat .v { font-size:18px; font-weight:600; font-variant-numeric:tabular-nums; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; white-space:nowrap; }
tbody tr:hover { background:#f1f5f9; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th[data-dir="asc"]::after { content:" \\25B2"; font-size:9px; }
table.sortable th[data-dir="desc"]::after { content:" \\25BC"; font-size:9px; }
.table-wrap { overflow-x:auto; }
a { color:var(--accent); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600;
  background:#e2e8f0; color:#334155; white-space:nowrap; }
.badge.ship, .badge.ok, .badge.pass, .badge.better, .badge.finished, .badge.reproduces { background:#dcfce7; color:#166534; }
.badge.continue, .badge.running, .badge.unclear { background:#dbeafe; color:#1e40af; }
.badge.no_difference, .badge.equivalent { background:#e0f2fe; color:#075985; }
.badge.keep_control, .badge.archived, .badge.interrupted { background:#f1f5f9; color:#475569; }
.badge.blocked, .badge.broken, .badge.fail, .badge.worse, .badge.error, .badge.failed, .badge.stalled,
.badge.differs { background:#fee2e2; color:#991b1b; }
.reco { border-left:4px solid #94a3b8; }
.reco.ship { border-left-color:#16a34a; } .reco.blocked { border-left-color:#dc2626; }
.reco.continue { border-left-color:#2563eb; } .reco.no_difference { border-left-color:#0ea5e9; }
.reco .title { font-size:16px; font-weight:700; margin-bottom:4px; }
.muted { color:var(--muted); }
.small { font-size:12px; }
pre { background:#0f172a; color:#e2e8f0; padding:10px 12px; border-radius:6px; overflow:auto; max-height:420px;
  white-space:pre-wrap; word-break:break-word; font-size:12.5px; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
svg.plot { width:100%; height:auto; display:block; }
svg.plot .tick { font-size:11px; fill:#64748b; }
svg.plot .label { font-size:12px; fill:#475569; }
svg.plot .legend { font-size:12px; fill:#0f172a; }
svg.plot .marker-label { font-size:11px; fill:#b91c1c; }
svg.plot .bar-label { font-size:12px; fill:#fff; font-weight:600; }
form.filters { display:flex; flex-wrap:wrap; gap:10px; align-items:end; margin:0 0 10px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select, button { font:inherit; padding:4px 8px; border:1px solid #cbd5e1; border-radius:6px; background:#fff; }
button { cursor:pointer; background:#f1f5f9; }
.two { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
@media (max-width: 900px) { .two { grid-template-columns:1fr; } }
.legend-row { display:flex; gap:14px; flex-wrap:wrap; font-size:12px; color:var(--muted); margin-top:6px; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:middle; }
.sw-continue { background:#cbd5e1; } .sw-ship { background:#16a34a; } .sw-keep_control { background:#64748b; }
.sw-no_difference { background:#0ea5e9; } .sw-blocked { background:#dc2626; }
.sw-keep_collecting { background:#cbd5e1; } .sw-halt { background:#dc2626; } .sw-rollback { background:#64748b; }
tr.hidden { display:none; }
.empty { padding:24px; text-align:center; color:var(--muted); }
"""

JS = r"""
(function () {
  "use strict";

  function cellKey(td) {
    var v = td.getAttribute("data-sort");
    if (v === null) v = td.getAttribute("data-value");
    if (v === null) v = td.textContent.trim();
    var n = parseFloat(v);
    return (v !== "" && !isNaN(n) && isFinite(v)) ? { n: n } : { s: v.toLowerCase() };
  }

  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
      var r;
      if (x.n !== undefined && y.n !== undefined) r = x.n - y.n;
      else if (x.n !== undefined) r = -1;
      else if (y.n !== undefined) r = 1;
      else r = x.s < y.s ? -1 : x.s > y.s ? 1 : 0;
      return dir === "asc" ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) th.setAttribute("data-dir", dir); else th.removeAttribute("data-dir");
    });
    table.setAttribute("data-sorted", col + ":" + dir);
  }

  function initTables(root) {
    root.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
        th.addEventListener("click", function () {
          var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
          sortTable(table, i, dir);
        });
      });
    });
  }

  function applyFilters(form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    if (!table) return;
    var text = (form.querySelector("[name=q]") || {}).value || "";
    var outcome = (form.querySelector("[name=outcome]") || {}).value || "";
    var minScore = parseFloat((form.querySelector("[name=min_score]") || {}).value);
    var errorsOnly = (form.querySelector("[name=errors]") || {}).checked;
    text = text.toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
      var ok = true;
      if (text && (tr.getAttribute("data-case") || "").toLowerCase().indexOf(text) < 0) ok = false;
      if (outcome && (tr.getAttribute("data-outcome") || "") !== outcome) ok = false;
      if (!isNaN(minScore)) {
        var s = parseFloat(tr.getAttribute("data-score"));
        if (isNaN(s) || s < minScore) ok = false;
      }
      if (errorsOnly && tr.getAttribute("data-error") !== "1") ok = false;
      tr.classList.toggle("hidden", !ok);
      if (ok) shown++;
    });
    var count = form.querySelector(".shown");
    if (count) count.textContent = shown + " shown";
  }

  function initFilters(root) {
    root.querySelectorAll("form.filters[data-table]").forEach(function (form) {
      form.addEventListener("input", function () { applyFilters(form); });
      form.addEventListener("change", function () { applyFilters(form); });
      form.addEventListener("submit", function (e) { e.preventDefault(); applyFilters(form); });
      applyFilters(form);
    });
  }

  function init(root) { initTables(root); initFilters(root); }

  function remember(root) {
    var state = { forms: {}, sorted: {} };
    root.querySelectorAll("form.filters[data-table]").forEach(function (f) {
      var values = {};
      Array.prototype.forEach.call(f.elements, function (el) {
        if (el.name) values[el.name] = el.type === "checkbox" ? el.checked : el.value;
      });
      state.forms[f.getAttribute("data-table")] = values;
    });
    root.querySelectorAll("table.sortable[data-sorted][id]").forEach(function (t) {
      state.sorted[t.id] = t.getAttribute("data-sorted");
    });
    return state;
  }

  function restore(root, state) {
    Object.keys(state.sorted).forEach(function (id) {
      var t = document.getElementById(id);
      if (!t) return;
      var p = state.sorted[id].split(":");
      sortTable(t, parseInt(p[0], 10), p[1]);
    });
    root.querySelectorAll("form.filters[data-table]").forEach(function (f) {
      var values = state.forms[f.getAttribute("data-table")];
      if (!values) return;
      Array.prototype.forEach.call(f.elements, function (el) {
        if (!el.name || !(el.name in values)) return;
        if (el.type === "checkbox") el.checked = values[el.name]; else el.value = values[el.name];
      });
      applyFilters(f);
    });
  }

  var body = document.body;
  var position = body.getAttribute("data-position");
  var poll = parseInt(body.getAttribute("data-poll") || "2000", 10);
  var live = document.getElementById("live");
  var busy = false;

  function refresh() {
    if (busy || !live || !live.checked || document.hidden) return;
    busy = true;
    fetch("/api/head", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (h) {
        if (String(h.position) === position) return null;
        return fetch(location.href, { cache: "no-store" }).then(function (r) {
          if (!r.ok) return null;
          return r.text();
        });
      })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.querySelector("main");
        var old = document.querySelector("main");
        if (!fresh || !old) return;
        var state = remember(old);
        old.replaceWith(fresh);
        position = doc.body.getAttribute("data-position");
        body.setAttribute("data-position", position);
        var label = document.getElementById("head-position");
        var fresh_label = doc.getElementById("head-position");
        if (label && fresh_label) label.textContent = fresh_label.textContent;
        init(fresh);
        restore(fresh, state);
        body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* the server stopped: try again at the next tick */ })
      .then(function () { busy = false; });
  }

  if (live) {
    try {
      var saved = sessionStorage.getItem("trialbook-live");
      if (saved !== null) live.checked = saved === "1";
    } catch (e) { /* storage disabled */ }
    live.addEventListener("change", function () {
      try { sessionStorage.setItem("trialbook-live", live.checked ? "1" : "0"); } catch (e) {}
    });
    setInterval(refresh, poll);
  }
  init(document);
})();
"""
