// promlite web UI: the time-series chart of the expression browser, drawn on <canvas>.
//
// Owns axes (nice time ticks in UTC or local time, SI-prefixed value ticks), one line per
// series with gaps where a step has no sample, optional stacking, a clickable legend,
// hover read-out and redraw on resize. After each draw the chart element carries
// data-series-drawn="N" (series with at least one visible point), which the browser test
// reads from the dumped DOM.
"use strict";

(function () {
  var PALETTE = ["#1f77d0", "#e6522c", "#2ca02c", "#9467bd", "#d4a017", "#17becf", "#d62780",
    "#8c564b", "#7f7f7f", "#bcbd22", "#0b4f9c", "#ff9896"];
  function colorFor(i) {
    if (i < PALETTE.length) return PALETTE[i];
    // Golden-angle hues keep further colours apart without a fixed list.
    return "hsl(" + Math.round((i * 137.508) % 360) + ", 62%, 45%)";
  }
  function parseValue(s) {
    if (s === "+Inf" || s === "Inf") return Infinity;
    if (s === "-Inf") return -Infinity;
    return parseFloat(s);
  }

  var SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;
  var TIME_STEPS = [SEC, 2 * SEC, 5 * SEC, 10 * SEC, 15 * SEC, 30 * SEC, MIN, 2 * MIN, 5 * MIN, 10 * MIN,
    15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY,
    30 * DAY, 91 * DAY, 365 * DAY];

  // Time ticks at round instants of the chosen zone: the smallest interval giving at most
  // one label per ~110px.
  function timeTicks(start, end, width) {
    var span = Math.max(end - start, 1), maxTicks = Math.max(2, Math.floor(width / 110));
    var iv = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if (span / TIME_STEPS[i] <= maxTicks) { iv = TIME_STEPS[i]; break; }
    }
    var off = PL.useUTC() ? 0 : -new Date(start).getTimezoneOffset() * MIN;
    var ticks = [];
    for (var t = Math.ceil((start + off) / iv) * iv - off, n = 0; t <= end && n < 200; t += iv, n++) {
      ticks.push(t);
    }
    return { iv: iv, ticks: ticks };
  }
  function timeLabel(t, iv, prev) {
    var p = PL.parts(t), pad = PL.pad;
    var date = p.Y + "-" + pad(p.M) + "-" + pad(p.D);
    var pp = prev === null ? null : PL.parts(prev);
    var newDay = !pp || pp.D !== p.D || pp.M !== p.M || pp.Y !== p.Y;
    if (iv >= DAY) return [pad(p.M) + "-" + pad(p.D), !pp || pp.Y !== p.Y ? String(p.Y) : ""];
    var time = pad(p.h) + ":" + pad(p.m) + (iv < MIN ? ":" + pad(p.s) : "");
    return [time, newDay ? date : ""];
  }

  // Value ticks at 1, 2, 2.5 or 5 times a power of ten.
  function niceTicks(min, max, maxCount) {
    var span = max - min, rough = span / Math.max(maxCount, 1);
    // Spans beyond float range (e.g. -1e308 to 1e308) get plain end ticks.
    if (!isFinite(rough) || rough <= 0) return { lo: min, hi: max, step: Math.max(Math.abs(min), Math.abs(max)), ticks: [min, max] };
    var mag = Math.pow(10, Math.floor(Math.log10(rough))), norm = rough / mag;
    var step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
    var lo = Math.floor(min / step) * step, hi = Math.ceil(max / step) * step, ticks = [];
    for (var i = 0, t = lo; t <= hi + step / 2 && i < 100; i++, t = lo + i * step) {
      ticks.push(Math.abs(t) < step / 1e6 ? 0 : t);
    }
    return { lo: lo, hi: hi, step: step, ticks: ticks };
  }
  // Labels for value ticks: one SI prefix (that of the largest tick) and one number of
  // decimals for the whole axis, so neighbouring labels compare at a glance.
  function tickLabels(ticks, step) {
    var big = ticks.reduce(function (m, t) { return Math.max(m, Math.abs(t)); }, 0);
    var sc = PL.siScale(big);
    var dec = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step / sc[0]) - 1e-9)));
    return ticks.map(function (v) { return v === 0 ? "0" : (v / sc[0]).toFixed(dec) + sc[1]; });
  }

  // Places a series' [seconds, "value"] pairs on the query's steps; a step without a
  // sample stays null, which the drawing turns into a gap.
  function slotValues(values, start, step, n) {
    var vals = new Array(n).fill(null);
    (values || []).forEach(function (p) {
      var slot = Math.round((p[0] * 1000 - start) / step);
      if (slot >= 0 && slot < n) vals[slot] = parseValue(p[1]);
    });
    return vals;
  }

  function Chart(root) {
    this.root = root;
    this.area = PL.el("div", { class: "chart" });
    this.canvas = PL.el("canvas");
    this.overlay = PL.el("canvas");
    this.tip = PL.el("div", { class: "chart-tip", style: "display:none" });
    this.legend = PL.el("div", { class: "legend" });
    PL.append(this.area, [this.canvas, this.overlay, this.tip]);
    PL.append(root, [this.area, this.legend,
      PL.el("div", { class: "legend-hint" }, "Click a legend entry to hide or show it; Alt-click shows only that series. Drag across the chart to zoom in.")]);
    this.series = [];
    this.stacked = false;
    this.geom = null;
    this.lastWidth = 0;
    var self = this;
    // Dragging across the plot selects a time range; the owner learns it through onZoom.
    this.onZoom = null;
    this.drag = null;
    this.overlay.addEventListener("mousedown", function (ev) {
      var g = self.geom, x = ev.clientX - self.overlay.getBoundingClientRect().left;
      if (g && ev.button === 0 && x >= g.left && x <= g.right) self.drag = { x0: x, x1: x };
    });
    this.overlay.addEventListener("mousemove", function (ev) {
      if (self.drag) self.drag.x1 = ev.clientX - self.overlay.getBoundingClientRect().left;
      self.hover(ev);
    });
    this.overlay.addEventListener("mouseup", function () { self.endDrag(); });
    this.overlay.addEventListener("mouseleave", function () { self.drag = null; self.unhover(); });
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.area.clientWidth !== self.lastWidth) self.draw();
      }).observe(this.area);
    } else {
      window.addEventListener("resize", function () { self.draw(); });
    }
    document.addEventListener("pl-timezone", function () { self.draw(); });
  }

  // `result` is a query_range matrix; start, end and step are in milliseconds.
  Chart.prototype.setData = function (result, start, end, step, stacked) {
    var n = Math.max(1, Math.floor((end - start) / step) + 1);
    this.start = start; this.end = start + (n - 1) * step; this.step = step; this.n = n;
    this.stacked = !!stacked;
    var old = {};
    this.series.forEach(function (s) { old[s.name] = s.visible; });
    this.series = result.map(function (r, i) {
      var name = PL.formatSeries(r.metric || {});
      return { name: name, color: colorFor(i), vals: slotValues(r.values, start, step, n), visible: old[name] !== false };
    });
    this.renderLegend();
    this.draw();
  };
  Chart.prototype.setStacked = function (stacked) { this.stacked = !!stacked; this.draw(); };

  Chart.prototype.renderLegend = function () {
    var self = this;
    PL.clear(this.legend);
    this.series.forEach(function (s) {
      var row = PL.el("div", { class: s.visible ? "" : "off", title: "Click to toggle" },
        [PL.el("span", { class: "sw", style: "background:" + s.color }), s.name]);
      row.addEventListener("click", function (ev) {
        if (ev.altKey) {
          var only = self.series.every(function (o) { return o === s ? o.visible : !o.visible; });
          self.series.forEach(function (o) { o.visible = only || o === s; });
        } else {
          s.visible = !s.visible;
        }
        self.renderLegend();
        self.draw();
      });
      self.legend.appendChild(row);
    });
  };

  // The y values as drawn: the series' own values, or cumulative sums when stacked.
  // `bottoms` keeps each series' baseline so stacked areas can be filled.
  Chart.prototype.layout = function () {
    var n = this.n, cum = new Array(n).fill(0), out = [];
    var stacked = this.stacked;
    this.series.forEach(function (s) {
      if (!s.visible) { out.push(null); return; }
      if (!stacked) { out.push({ top: s.vals, bottom: null }); return; }
      var top = new Array(n), bottom = cum.slice();
      for (var i = 0; i < n; i++) {
        var v = s.vals[i];
        if (v === null || !isFinite(v)) { top[i] = null; continue; }
        cum[i] += v;
        top[i] = cum[i];
      }
      out.push({ top: top, bottom: bottom });
    });
    return out;
  };

  Chart.prototype.draw = function () {
    var W = this.area.clientWidth, H = this.area.clientHeight;
    this.lastWidth = W;
    if (!W || !H) return;
    var dpr = window.devicePixelRatio || 1;
    [this.canvas, this.overlay].forEach(function (c) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
      c.style.width = W + "px"; c.style.height = H + "px";
    });
    var ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.font = "12px -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
    this.unhover();

    var lay = this.layout(), min = Infinity, max = -Infinity;
    lay.forEach(function (l) {
      if (!l) return;
      l.top.forEach(function (v) { if (v !== null && isFinite(v)) { if (v < min) min = v; if (v > max) max = v; } });
    });
    if (this.stacked && min !== Infinity) { min = Math.min(min, 0); max = Math.max(max, 0); }
    if (min === Infinity) {
      this.geom = null;
      ctx.fillStyle = "#667085";
      ctx.textAlign = "center";
      ctx.fillText(this.series.length ? "All series are hidden." : "No datapoints found.", W / 2, H / 2);
      this.root.setAttribute("data-series-drawn", "0");
      return;
    }
    if (min === max) { var pad = Math.abs(min) * 0.1 || 1; min -= pad; max += pad; }

    var top = 10, bottom = H - 38;
    var yt = niceTicks(min, max, Math.max(2, Math.floor((bottom - top) / 42)));
    var labels = tickLabels(yt.ticks, yt.step);
    var left = 12 + Math.max.apply(null, labels.map(function (s) { return ctx.measureText(s).width; }));
    var right = W - 16;
    var g = { left: left, right: right, top: top, bottom: bottom, lo: yt.lo, hi: yt.hi, lay: lay };
    this.geom = g;
    var self = this;
    function X(i) { return left + (self.n > 1 ? i / (self.n - 1) : 0.5) * (right - left); }
    function Y(v) { return bottom - (v - yt.lo) / (yt.hi - yt.lo) * (bottom - top); }
    g.X = X; g.Y = Y;

    // Grid and value axis.
    ctx.strokeStyle = "#eceef2"; ctx.lineWidth = 1; ctx.fillStyle = "#475467";
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    yt.ticks.forEach(function (t, i) {
      var y = Math.round(Y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(right, y); ctx.stroke();
      ctx.fillText(labels[i], left - 6, y);
    });
    // Time axis.
    var tt = timeTicks(this.start, this.end, right - left), prev = null;
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    tt.ticks.forEach(function (t) {
      var x = Math.round(left + (self.end > self.start ? (t - self.start) / (self.end - self.start) : 0.5) * (right - left)) + 0.5;
      ctx.strokeStyle = "#eceef2";
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      ctx.strokeStyle = "#98a2b3";
      ctx.beginPath(); ctx.moveTo(x, bottom); ctx.lineTo(x, bottom + 4); ctx.stroke();
      var lab = timeLabel(t, tt.iv, prev);
      prev = t;
      ctx.fillStyle = "#475467"; ctx.fillText(lab[0], x, bottom + 6);
      if (lab[1]) { ctx.fillStyle = "#98a2b3"; ctx.fillText(lab[1], x, bottom + 21); }
    });
    ctx.strokeStyle = "#98a2b3";
    ctx.beginPath(); ctx.moveTo(left, bottom + 0.5); ctx.lineTo(right, bottom + 0.5); ctx.stroke();

    // Series: stacked areas first so lines stay on top of every fill.
    ctx.save();
    ctx.beginPath(); ctx.rect(left - 2, top - 2, right - left + 4, bottom - top + 4); ctx.clip();
    var drawn = 0, n = this.n;
    if (this.stacked) {
      this.series.forEach(function (s, si) {
        var l = lay[si];
        if (!l) return;
        ctx.fillStyle = s.color; ctx.globalAlpha = 0.28;
        for (var i = 0; i < n;) {
          if (l.top[i] === null) { i++; continue; }
          var j = i;
          while (j + 1 < n && l.top[j + 1] !== null) j++;
          ctx.beginPath(); ctx.moveTo(X(i), Y(l.top[i]));
          for (var k = i + 1; k <= j; k++) ctx.lineTo(X(k), Y(l.top[k]));
          for (k = j; k >= i; k--) ctx.lineTo(X(k), Y(l.bottom[k]));
          ctx.closePath(); ctx.fill();
          i = j + 1;
        }
        ctx.globalAlpha = 1;
      });
    }
    ctx.lineWidth = 1.6; ctx.lineJoin = "round";
    this.series.forEach(function (s, si) {
      var l = lay[si];
      if (!l) return;
      var any = false;
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color;
      ctx.beginPath();
      for (var i = 0; i < n; i++) {
        var v = l.top[i];
        if (v === null || !isFinite(v)) continue;
        var prevOk = i > 0 && l.top[i - 1] !== null && isFinite(l.top[i - 1]);
        var nextOk = i + 1 < n && l.top[i + 1] !== null && isFinite(l.top[i + 1]);
        if (prevOk) ctx.lineTo(X(i), Y(v)); else ctx.moveTo(X(i), Y(v));
        if (!prevOk && !nextOk) {
          // A lone sample between gaps would be invisible as a line: mark it with a dot.
          ctx.fillRect(X(i) - 1.5, Y(v) - 1.5, 3, 3);
        }
        any = true;
      }
      ctx.stroke();
      if (any) drawn++;
    });
    ctx.restore();
    this.root.setAttribute("data-series-drawn", String(drawn));
  };

  Chart.prototype.endDrag = function () {
    var d = this.drag, g = this.geom;
    this.drag = null;
    if (!d || !g || Math.abs(d.x1 - d.x0) < 5 || !this.onZoom) return;
    var span = this.end - this.start, w = g.right - g.left;
    var a = Math.max(g.left, Math.min(d.x0, d.x1)), b = Math.min(g.right, Math.max(d.x0, d.x1));
    this.onZoom(this.start + (a - g.left) / w * span, this.start + (b - g.left) / w * span);
  };
  Chart.prototype.drawSelection = function (ctx) {
    var d = this.drag, g = this.geom;
    if (!d || !g) return;
    var a = Math.max(g.left, Math.min(d.x0, d.x1)), b = Math.min(g.right, Math.max(d.x0, d.x1));
    ctx.fillStyle = "rgba(31,95,191,.12)";
    ctx.fillRect(a, g.top, b - a, g.bottom - g.top);
  };

  Chart.prototype.clearOverlay = function () {
    var c = this.overlay, ctx = c.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
  };
  Chart.prototype.unhover = function () { this.clearOverlay(); this.tip.style.display = "none"; };

  // Shows the series nearest to the cursor at the hovered step: its labels and value.
  Chart.prototype.hover = function (ev) {
    var g = this.geom;
    if (!g) return;
    var rect = this.overlay.getBoundingClientRect();
    var mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    if (mx < g.left - 4 || mx > g.right + 4 || my < g.top - 4 || my > g.bottom + 4) { this.unhover(); return; }
    var slot = this.n > 1 ? Math.round((mx - g.left) / (g.right - g.left) * (this.n - 1)) : 0;
    slot = Math.max(0, Math.min(this.n - 1, slot));
    var best = -1, bestD = Infinity;
    for (var si = 0; si < this.series.length; si++) {
      var l = g.lay[si];
      if (!l) continue;
      var v = l.top[slot];
      if (v === null || !isFinite(v)) continue;
      var d = Math.abs(g.Y(v) - my);
      if (d < bestD) { bestD = d; best = si; }
    }
    this.clearOverlay();
    var dpr = window.devicePixelRatio || 1, ctx = this.overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawSelection(ctx);
    if (best < 0) { this.tip.style.display = "none"; return; }
    var s = this.series[best], x = g.X(slot), y = g.Y(g.lay[best].top[slot]);
    ctx.strokeStyle = "rgba(29,35,48,.35)"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, g.top); ctx.lineTo(Math.round(x) + 0.5, g.bottom); ctx.stroke();
    ctx.fillStyle = s.color; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();

    var raw = s.vals[slot];
    PL.clear(this.tip);
    PL.append(this.tip, [
      PL.el("div", { class: "t" }, PL.formatTime(this.start + slot * this.step)),
      PL.el("div", { class: "l" }, [PL.el("span", { class: "sw", style: "background:" + s.color }), s.name]),
      PL.el("div", null, ["value: ", PL.el("span", { class: "v" }, String(raw)),
        Math.abs(raw) >= 1000 || (raw !== 0 && Math.abs(raw) < 0.01) ? " (" + PL.formatValue(raw) + ")" : ""])
    ]);
    this.tip.style.display = "block";
    var tw = this.tip.offsetWidth, th = this.tip.offsetHeight;
    var tx = x + 14 + tw > this.area.clientWidth ? x - 14 - tw : x + 14;
    var ty = Math.max(0, Math.min(y - th / 2, this.area.clientHeight - th));
    this.tip.style.left = Math.max(0, tx) + "px"; this.tip.style.top = ty + "px";
  };

  PL.Chart = Chart;
  PL.chartInternals = { slotValues: slotValues, niceTicks: niceTicks, tickLabels: tickLabels, timeTicks: timeTicks, parseValue: parseValue };
})();
