// promlite web UI: the expression browser (/graph). Owns the panels: query box with
// history and metric-name completion, the Table tab (instant query at a chosen time) and
// the Graph tab (range query with range, end time, resolution and stacking), and the
// panel state in the URL using upstream's parameter names (g0.expr, g0.tab as 2.x's 0/1 or
// 3.x's graph/table, g0.range_input, g0.end_input, g0.moment_input, g0.step_input,
// g0.stacked or 3.x's g0.display_mode), so links from upstream Prometheus or Grafana open
// the same view. Served at /graph and at 3.x's /query.
"use strict";

(function () {
  var el = PL.el;
  var RANGES = ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "1d", "2d", "1w", "2w", "4w", "8w", "26w", "1y", "2y"];
  var MAX_ROWS = 10000;
  var FUNCTIONS = ["abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "group", "histogram_quantile", "holt_winters",
    "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
    "max", "max_over_time", "min", "min_over_time", "minute", "month", "predict_linear", "present_over_time",
    "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt",
    "stddev", "stddev_over_time", "stdvar", "stdvar_over_time", "sum", "sum_over_time", "time", "timestamp",
    "topk", "vector", "year", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless"];

  var metricNames = [];
  PL.api("label/__name__/values").then(function (j) { metricNames = j.data || []; }, function () { /* completion is optional */ });

  function loadHistory() {
    try { var h = JSON.parse(localStorage.getItem("promlite.history") || "[]"); return Array.isArray(h) ? h : []; } catch (e) { return []; }
  }
  function saveHistory(expr) {
    var h = loadHistory().filter(function (x) { return x !== expr; });
    h.unshift(expr);
    localStorage.setItem("promlite.history", JSON.stringify(h.slice(0, 50)));
  }

  // Parses upstream's end/moment inputs ("2024-01-02 15:04:05", RFC 3339 or unix seconds).
  function parseTimeParam(s) {
    if (!s) return null;
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1000;
    var t = Date.parse(s.replace(" ", "T") + (/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? "" : "Z"));
    return isFinite(t) ? t : null;
  }
  function formatTimeParam(ms) { return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, ""); }

  var panels = [];
  var container;

  function Panel(opts) {
    this.expr = opts.expr || "";
    // New panels open on the Table tab, as upstream's do.
    this.tab = opts.tab === "graph" ? "graph" : "table";
    this.range = opts.range || 3600e3;
    this.end = opts.end || null;
    this.moment = opts.moment || null;
    this.step = opts.step || null;
    this.stacked = !!opts.stacked;
    this.seq = 0;
    this.histPos = -1;
    this.build();
  }

  Panel.prototype.build = function () {
    var self = this;
    this.input = el("textarea", { class: "expr", rows: 1, spellcheck: "false", autocomplete: "off",
      placeholder: "Expression (press Shift+Enter for newlines)", "aria-label": "Expression" });
    this.input.value = this.expr;
    this.suggest = el("ul", { class: "suggest", style: "display:none" });
    this.input.addEventListener("keydown", function (ev) { self.onKey(ev); });
    this.input.addEventListener("input", function () { self.autosize(); self.updateSuggest(); });
    this.input.addEventListener("focus", function () { self.updateSuggest(); });
    this.input.addEventListener("blur", function () { setTimeout(function () { self.hideSuggest(); }, 150); });
    this.stats = el("span", { class: "stats" });
    this.tabTable = el("button", { type: "button", onclick: function () { self.setTab("table"); } }, "Table");
    this.tabGraph = el("button", { type: "button", onclick: function () { self.setTab("graph"); } }, "Graph");
    this.tableView = el("div");
    this.graphView = el("div");
    this.buildTable();
    this.buildGraph();
    this.root = el("div", { class: "panel" }, [
      el("div", { class: "panel-head" }, el("div", { class: "expr-row" }, [
        el("div", { class: "expr-wrap" }, [this.input, this.suggest]),
        el("button", { type: "button", class: "primary", onclick: function () { self.execute(); } }, "Execute")
      ])),
      el("div", { class: "tabs" }, [this.tabTable, this.tabGraph, this.stats]),
      el("div", { class: "panel-body" }, [this.tableView, this.graphView]),
      el("div", { class: "panel-foot" }, el("button", { type: "button", onclick: function () { removePanel(self); } }, "Remove Panel"))
    ]);
    this.setTab(this.tab, true);
    setTimeout(function () { self.autosize(); }, 0);
  };

  Panel.prototype.buildTable = function () {
    var self = this;
    this.momentInput = el("input", { type: "datetime-local", step: "1", title: "Evaluation time" });
    this.momentInput.addEventListener("change", function () { self.moment = PL.fromInputTime(self.momentInput.value); self.execute(); });
    this.tableMsg = el("div");
    this.tableOut = el("div");
    PL.append(this.tableView, [
      el("div", { class: "toolbar" }, [
        el("span", { class: "btn-group" }, [
          el("button", { type: "button", title: "Earlier by the graph range", onclick: function () { self.shiftMoment(-1); } }, "‹"),
          this.momentInput,
          el("button", { type: "button", title: "Later by the graph range", onclick: function () { self.shiftMoment(1); } }, "›")
        ]),
        el("button", { type: "button", title: "Evaluate at the current time", onclick: function () { self.moment = null; self.execute(); } }, "Now")
      ]),
      this.tableMsg, this.tableOut
    ]);
  };

  Panel.prototype.buildGraph = function () {
    var self = this;
    function onEnter(fn) { return function (ev) { if (ev.key === "Enter") { ev.preventDefault(); fn(); } }; }
    this.rangeInput = el("input", { type: "text", class: "range", title: "Range (e.g. 1h, 30m, 2d)" });
    this.rangeInput.addEventListener("keydown", onEnter(function () { self.readRange(); }));
    this.rangeInput.addEventListener("change", function () { self.readRange(); });
    this.endInput = el("input", { type: "datetime-local", step: "1", title: "End time (empty: now)" });
    this.endInput.addEventListener("change", function () { self.end = PL.fromInputTime(self.endInput.value); self.execute(); });
    this.stepInput = el("input", { type: "text", class: "step", placeholder: "Res. (s)", title: "Resolution: query step in seconds or as a duration" });
    this.stepInput.addEventListener("keydown", onEnter(function () { self.readStep(); }));
    this.stepInput.addEventListener("change", function () { self.readStep(); });
    this.stackBox = el("input", { type: "checkbox" });
    this.stackBox.addEventListener("change", function () {
      self.stacked = self.stackBox.checked;
      if (self.chart) self.chart.setStacked(self.stacked);
      updateURL();
    });
    this.graphMsg = el("div");
    this.chartBox = el("div", { class: "chart-box" });
    PL.append(this.graphView, [
      el("div", { class: "toolbar" }, [
        el("span", { class: "btn-group" }, [
          el("button", { type: "button", title: "Shorter range", onclick: function () { self.zoom(-1); } }, "−"),
          this.rangeInput,
          el("button", { type: "button", title: "Longer range", onclick: function () { self.zoom(1); } }, "+")
        ]),
        el("span", { class: "btn-group" }, [
          el("button", { type: "button", title: "Move back by half the range", onclick: function () { self.shiftEnd(-1); } }, "«"),
          this.endInput,
          el("button", { type: "button", title: "Move forward by half the range", onclick: function () { self.shiftEnd(1); } }, "»")
        ]),
        el("button", { type: "button", title: "End at the current time", onclick: function () { self.end = null; self.execute(); } }, "Now"),
        this.stepInput,
        el("label", null, [this.stackBox, " Stacked"])
      ]),
      this.graphMsg, this.chartBox
    ]);
    this.chart = new PL.Chart(this.chartBox);
    this.chart.onZoom = function (from, to) {
      self.end = Math.round(to / 1000) * 1000;
      self.range = Math.max(1000, Math.round((to - from) / 1000) * 1000);
      self.execute();
    };
  };

  Panel.prototype.syncInputs = function () {
    this.rangeInput.value = PL.formatDuration(this.range);
    this.endInput.value = this.end ? PL.toInputTime(this.end) : "";
    this.momentInput.value = this.moment ? PL.toInputTime(this.moment) : "";
    this.stepInput.value = this.step ? String(this.step / 1000) : "";
    this.stackBox.checked = this.stacked;
  };

  Panel.prototype.setTab = function (tab, quiet) {
    this.tab = tab;
    this.tabTable.classList.toggle("active", tab === "table");
    this.tabGraph.classList.toggle("active", tab === "graph");
    this.tableView.style.display = tab === "table" ? "" : "none";
    this.graphView.style.display = tab === "graph" ? "" : "none";
    this.syncInputs();
    if (!quiet) this.execute();
  };
  Panel.prototype.readRange = function () {
    var d = PL.parseDuration(this.rangeInput.value);
    if (d && d > 0) { this.range = d; this.execute(); } else this.syncInputs();
  };
  Panel.prototype.readStep = function () {
    var v = this.stepInput.value.trim();
    if (v === "") this.step = null;
    else if (/^\d+(\.\d+)?$/.test(v) && parseFloat(v) > 0) this.step = parseFloat(v) * 1000;
    else if (PL.parseDuration(v)) this.step = PL.parseDuration(v);
    this.execute();
  };
  Panel.prototype.zoom = function (dir) {
    var cur = RANGES.map(PL.parseDuration), i;
    if (dir > 0) { for (i = 0; i < cur.length && cur[i] <= this.range; i++); this.range = cur[Math.min(i, cur.length - 1)]; }
    else { for (i = cur.length - 1; i >= 0 && cur[i] >= this.range; i--); this.range = cur[Math.max(i, 0)]; }
    this.execute();
  };
  Panel.prototype.shiftEnd = function (dir) {
    this.end = Math.round((this.end || Date.now()) + dir * this.range / 2);
    this.execute();
  };
  Panel.prototype.shiftMoment = function (dir) {
    this.moment = Math.round((this.moment || Date.now()) + dir * this.range);
    this.execute();
  };

  Panel.prototype.autosize = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 300) + "px";
  };

  // ---- completion and history ----
  Panel.prototype.currentWord = function () {
    var before = this.input.value.slice(0, this.input.selectionStart);
    // Inside a label matcher the word is a label name or value, not a metric name.
    if ((before.match(/\{/g) || []).length > (before.match(/\}/g) || []).length) return null;
    if ((before.match(/"/g) || []).length % 2 === 1) return null;
    var m = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before);
    return m ? m[0] : null;
  };
  Panel.prototype.updateSuggest = function () {
    var items = [];
    if (this.input.value.trim() === "") {
      items = loadHistory().slice(0, 12).map(function (h) { return { text: h, kind: "history", whole: true }; });
    } else {
      var w = this.currentWord();
      if (w) {
        var lw = w.toLowerCase(), pre = [], sub = [];
        metricNames.forEach(function (n) {
          var ln = n.toLowerCase();
          if (ln === lw) return;
          if (ln.indexOf(lw) === 0) pre.push({ text: n, kind: "metric" });
          else if (pre.length + sub.length < 200 && ln.indexOf(lw) > 0) sub.push({ text: n, kind: "metric" });
        });
        FUNCTIONS.forEach(function (f) { if (f.indexOf(lw) === 0 && f !== lw) pre.push({ text: f, kind: "function" }); });
        items = pre.concat(sub).slice(0, 15);
      }
    }
    this.items = items;
    this.sel = -1;
    this.renderSuggest();
  };
  Panel.prototype.renderSuggest = function () {
    var self = this;
    PL.clear(this.suggest);
    if (!this.items || !this.items.length || document.activeElement !== this.input) { this.suggest.style.display = "none"; return; }
    this.items.forEach(function (it, i) {
      var li = el("li", { class: i === self.sel ? "sel" : "" }, [el("span", { class: "kind" }, it.kind), it.text]);
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); self.accept(i); });
      self.suggest.appendChild(li);
    });
    this.suggest.style.display = "block";
    var s = this.suggest.children[this.sel];
    if (s && s.scrollIntoView) s.scrollIntoView({ block: "nearest" });
  };
  Panel.prototype.hideSuggest = function () { this.items = []; this.suggest.style.display = "none"; };
  Panel.prototype.accept = function (i) {
    var it = this.items[i];
    if (!it) return;
    if (it.whole) {
      this.input.value = it.text;
    } else {
      var pos = this.input.selectionStart, w = this.currentWord() || "";
      var v = this.input.value;
      this.input.value = v.slice(0, pos - w.length) + it.text + v.slice(pos);
      var np = pos - w.length + it.text.length;
      this.input.setSelectionRange(np, np);
    }
    this.hideSuggest();
    this.autosize();
    this.input.focus();
  };
  Panel.prototype.onKey = function (ev) {
    var open = this.items && this.items.length && this.suggest.style.display !== "none";
    if (open && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
      ev.preventDefault();
      var n = this.items.length;
      this.sel = ev.key === "ArrowDown" ? (this.sel + 1) % n : (this.sel <= 0 ? n - 1 : this.sel - 1);
      this.renderSuggest();
      return;
    }
    if (open && (ev.key === "Tab" || ev.key === "Enter") && this.sel >= 0) {
      ev.preventDefault(); this.accept(this.sel); return;
    }
    if (ev.key === "Escape") { this.hideSuggest(); return; }
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault(); this.hideSuggest(); this.execute(); return;
    }
    // Shell-like history on a single-line expression when no completion list is open.
    if (!open && (ev.key === "ArrowUp" || ev.key === "ArrowDown") && this.input.value.indexOf("\n") < 0) {
      var h = loadHistory();
      if (!h.length) return;
      ev.preventDefault();
      this.histPos = ev.key === "ArrowUp" ? Math.min(this.histPos + 1, h.length - 1) : Math.max(this.histPos - 1, -1);
      this.input.value = this.histPos < 0 ? "" : h[this.histPos];
      this.autosize();
    }
  };

  // ---- queries ----
  Panel.prototype.execute = function () {
    this.expr = this.input.value.trim();
    this.histPos = -1;
    this.syncInputs();
    updateURL();
    if (this.expr === "") return;
    saveHistory(this.expr);
    var seq = ++this.seq, self = this, t0 = performance.now();
    PL.clear(this.stats).textContent = "Loading…";
    var req, range = null;
    if (this.tab === "table") {
      req = PL.api("query", { query: this.expr, time: this.moment ? this.moment / 1000 : null });
    } else {
      var end = this.end || Date.now(), start = end - this.range;
      // Upstream's automatic resolution: about 250 points, whole seconds. A step the user
      // typed is sent as is, so the server's own limit (11,000 points) is what they see.
      var step = this.step || Math.max(Math.floor(this.range / 1000 / 250), 1) * 1000;
      this.stepInput.placeholder = this.step ? "Res. (s)" : "Res. (auto " + step / 1000 + "s)";
      range = { start: start, end: end, step: step };
      req = PL.api("query_range", { query: this.expr, start: start / 1000, end: end / 1000, step: step / 1000 });
    }
    req.then(function (json) {
      if (seq !== self.seq) return;
      var ms = Math.round(performance.now() - t0), data = json.data || {};
      // Scalars and strings come as a [time, value] pair, not a list of series.
      var many = data.resultType === "vector" || data.resultType === "matrix";
      var count = many && Array.isArray(data.result) ? data.result.length : 1;
      self.stats.textContent = "Load time: " + ms + "ms · Result series: " + count;
      if (self.tab === "table") self.showTable(json); else self.showGraph(json, range);
    }, function (err) {
      if (seq !== self.seq) return;
      self.stats.textContent = "";
      var msg = self.tab === "table" ? self.tableMsg : self.graphMsg;
      PL.clear(msg).appendChild(PL.errorBox(err));
      if (self.tab === "table") PL.clear(self.tableOut);
      else self.chartBox.style.display = "none";
    });
  };

  Panel.prototype.showTable = function (json) {
    PL.clear(this.tableMsg);
    PL.append(this.tableMsg, PL.warningBoxes(json));
    var data = json.data || {}, rows = [];
    var result = data.result;
    switch (data.resultType) {
      case "vector":
        rows = result.map(function (s) { return [PL.formatSeries(s.metric || {}), sampleText(s)]; });
        break;
      case "matrix":
        rows = result.map(function (s) {
          var vals = (s.values || []).map(function (p) { return p[1] + " @" + p[0]; });
          (s.histograms || []).forEach(function (p) { vals.push(histogramText(p[1]) + " @" + p[0]); });
          return [PL.formatSeries(s.metric || {}), vals.join("\n")];
        });
        break;
      case "scalar": rows = [["scalar", result[1]]]; break;
      case "string": rows = [["string", result[1]]]; break;
      default: rows = [];
    }
    PL.clear(this.tableOut);
    if (!rows.length) { this.tableOut.appendChild(el("div", { class: "info-msg" }, "Empty query result")); return; }
    var shown = rows.slice(0, MAX_ROWS);
    var table = el("table", { class: "data" }, [
      el("thead", null, el("tr", null, [el("th", null, "Series"), el("th", { style: "text-align:right" }, "Value")])),
      el("tbody", null, shown.map(function (r) {
        return el("tr", null, [el("td", { class: "series" }, r[0]), el("td", { class: "num", style: "white-space:pre" }, r[1])]);
      }))
    ]);
    if (rows.length > MAX_ROWS) {
      this.tableOut.appendChild(el("div", { class: "warning" }, "Showing the first " + MAX_ROWS + " of " + rows.length + " series."));
    }
    this.tableOut.appendChild(el("div", { class: "table-wrap" }, table));
  };
  function sampleText(s) {
    if (s.value) return s.value[1];
    if (s.histogram) return histogramText(s.histogram[1]);
    return "";
  }
  function histogramText(h) { return "histogram{count: " + h.count + ", sum: " + h.sum + "}"; }

  Panel.prototype.showGraph = function (json, range) {
    this.chartBox.style.display = "";
    PL.clear(this.graphMsg);
    PL.append(this.graphMsg, PL.warningBoxes(json));
    var data = json.data || {};
    if (data.resultType !== "matrix") {
      this.graphMsg.appendChild(PL.errorBox("Query result is of wrong type '" + data.resultType +
        "', should be 'matrix' (range vector)."));
      this.chartBox.style.display = "none";
      return;
    }
    this.chart.setData(data.result, range.start, range.end, range.step, this.stacked);
  };

  Panel.prototype.params = function (i) {
    var p = {};
    p["g" + i + ".expr"] = this.expr;
    p["g" + i + ".tab"] = this.tab;
    p["g" + i + ".display_mode"] = this.stacked ? "stacked" : "lines";
    p["g" + i + ".range_input"] = PL.formatDuration(this.range);
    if (this.end) p["g" + i + ".end_input"] = formatTimeParam(this.end);
    if (this.moment) p["g" + i + ".moment_input"] = formatTimeParam(this.moment);
    if (this.step) p["g" + i + ".step_input"] = String(this.step / 1000);
    return p;
  };

  function updateURL() {
    var all = {};
    panels.forEach(function (p, i) { Object.assign(all, p.params(i)); });
    history.replaceState(null, "", "?" + PL.encodeParams(all));
  }
  function addPanel(opts) {
    var p = new Panel(opts || {});
    panels.push(p);
    container.appendChild(p.root);
    return p;
  }
  function removePanel(p) {
    panels = panels.filter(function (x) { return x !== p; });
    p.root.remove();
    if (!panels.length) addPanel();
    updateURL();
  }

  function panelsFromURL() {
    var q = new URLSearchParams(location.search), out = [];
    for (var i = 0; i < 50; i++) {
      var g = "g" + i + ".";
      if (!q.has(g + "expr") && !q.has(g + "tab")) continue;
      var tab = q.get(g + "tab");
      var stepIn = q.get(g + "step_input");
      out.push({
        expr: q.get(g + "expr") || "",
        tab: tab === "0" || tab === "graph" ? "graph" : "table",
        range: PL.parseDuration(q.get(g + "range_input")) || 3600e3,
        end: parseTimeParam(q.get(g + "end_input")),
        moment: parseTimeParam(q.get(g + "moment_input")),
        step: stepIn && parseFloat(stepIn) > 0 ? parseFloat(stepIn) * 1000 : null,
        stacked: q.get(g + "stacked") === "1" || q.get(g + "display_mode") === "stacked"
      });
    }
    return out;
  }

  var main = document.getElementById("main");
  container = el("div", { id: "panels" });
  PL.append(main, [container,
    el("button", { type: "button", onclick: function () { addPanel().input.focus(); updateURL(); } }, "Add Panel")]);
  var initial = panelsFromURL();
  if (!initial.length) initial = [{}];
  initial.forEach(function (o) { var p = addPanel(o); if (p.expr) p.execute(); });
  document.addEventListener("pl-timezone", function () { panels.forEach(function (p) { p.syncInputs(); }); });
})();
