// promlite web UI: helpers shared by every page (navigation, API access, DOM building,
// time and number formatting). Exposes one global, `PL`. All URLs are relative so the
// pages work under any --web.route-prefix.
"use strict";

var PL = (function () {
  // Builds an element. `attrs` keys starting with "on" become listeners; children may be
  // strings (text nodes, never parsed as HTML), nodes, arrays, null or undefined.
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k.slice(0, 2) === "on" && typeof v === "function") e.addEventListener(k.slice(2), v);
        else if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else e.setAttribute(k, v === true ? "" : v);
      });
    }
    append(e, children);
    return e;
  }
  function append(e, children) {
    if (children === undefined || children === null) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      if (Array.isArray(c)) append(e, c);
      else if (typeof c === "object") e.appendChild(c);
      else e.appendChild(document.createTextNode(String(c)));
    });
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

  // An API error: the envelope's errorType and message, as upstream's UI shows them.
  function ApiError(message, type) { this.message = message; this.type = type || ""; }
  ApiError.prototype.toString = function () { return (this.type ? this.type + ": " : "") + this.message; };

  // GET api/v1/<path> and resolve with the whole envelope (data, warnings, infos).
  function api(path, params) {
    var qs = params ? encodeParams(params) : "";
    var url = "api/v1/" + path + (qs ? "?" + qs : "");
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (resp) {
        return resp.text().then(function (body) {
          var json;
          try { json = JSON.parse(body); } catch (e) {
            throw new ApiError("unexpected response (HTTP " + resp.status + "): " + body.slice(0, 200));
          }
          if (json.status !== "success") throw new ApiError(json.error || ("HTTP " + resp.status), json.errorType);
          return json;
        });
      }, function (e) { throw new ApiError("cannot reach the server: " + e.message, "network"); });
  }
  function encodeParams(params) {
    return Object.keys(params).filter(function (k) {
      return params[k] !== undefined && params[k] !== null && params[k] !== "";
    }).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }

  // ---- time ----
  function useUTC() { return localStorage.getItem("promlite.localTime") !== "1"; }
  function pad(n, w) { var s = String(n); while (s.length < (w || 2)) s = "0" + s; return s; }
  // Date parts in UTC or local time, so every formatter agrees with the toggle.
  function parts(ms) {
    var d = new Date(ms), u = useUTC();
    return {
      Y: u ? d.getUTCFullYear() : d.getFullYear(), M: (u ? d.getUTCMonth() : d.getMonth()) + 1,
      D: u ? d.getUTCDate() : d.getDate(), h: u ? d.getUTCHours() : d.getHours(),
      m: u ? d.getUTCMinutes() : d.getMinutes(), s: u ? d.getUTCSeconds() : d.getSeconds(),
      ms: u ? d.getUTCMilliseconds() : d.getMilliseconds()
    };
  }
  function formatTime(ms) {
    if (!isFinite(ms)) return "";
    var p = parts(ms);
    return p.Y + "-" + pad(p.M) + "-" + pad(p.D) + " " + pad(p.h) + ":" + pad(p.m) + ":" + pad(p.s) +
      (p.ms ? "." + pad(p.ms, 3) : "") + (useUTC() ? " UTC" : "");
  }
  // Value for an <input type=datetime-local>, which is zone-less: it shows UTC or local
  // time depending on the toggle.
  function toInputTime(ms) {
    var p = parts(ms);
    return p.Y + "-" + pad(p.M) + "-" + pad(p.D) + "T" + pad(p.h) + ":" + pad(p.m) + ":" + pad(p.s);
  }
  function fromInputTime(str) {
    var m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(str || "");
    if (!m) return null;
    var a = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)];
    return useUTC() ? Date.UTC(a[0], a[1], a[2], a[3], a[4], a[5]) : new Date(a[0], a[1], a[2], a[3], a[4], a[5]).getTime();
  }

  // Prometheus durations ("1h30m", "90s", "1w") to milliseconds; null when invalid.
  var UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 };
  function parseDuration(str) {
    str = String(str || "").trim();
    if (str === "" || str === "0") return str === "0" ? 0 : null;
    var re = /(\d+)(ms|s|m|h|d|w|y)/g, total = 0, pos = 0, m;
    while ((m = re.exec(str)) !== null) {
      if (m.index !== pos) return null;
      total += parseInt(m[1], 10) * UNIT_MS[m[2]];
      pos = re.lastIndex;
    }
    return pos === str.length ? total : null;
  }
  function formatDuration(ms) {
    if (ms === 0) return "0s";
    var out = "", units = ["y", "w", "d", "h", "m", "s", "ms"];
    units.forEach(function (u) {
      var n = Math.floor(ms / UNIT_MS[u]);
      if (n > 0) { out += n + u; ms -= n * UNIT_MS[u]; }
    });
    return out;
  }
  // "12.3s ago" for an RFC 3339 timestamp; "never" for Go's zero time.
  function ago(rfc3339) {
    var t = Date.parse(rfc3339);
    if (!isFinite(t) || t <= 0 || /^0001-/.test(rfc3339)) return "never";
    return humanSeconds((Date.now() - t) / 1000) + " ago";
  }
  function humanSeconds(sec) {
    if (!isFinite(sec)) return "";
    var a = Math.abs(sec);
    if (a < 1) return (sec * 1000).toFixed(1) + "ms";
    if (a < 60) return sec.toFixed(3).replace(/\.?0+$/, "") + "s";
    if (a < 3600) return Math.floor(sec / 60) + "m " + Math.floor(sec % 60) + "s";
    if (a < 86400) return Math.floor(sec / 3600) + "h " + Math.floor((sec % 3600) / 60) + "m";
    return Math.floor(sec / 86400) + "d " + Math.floor((sec % 86400) / 3600) + "h";
  }

  // ---- series and values ----
  function formatSeries(metric) {
    var name = metric.__name__ || "";
    var ls = Object.keys(metric).filter(function (k) { return k !== "__name__"; }).sort();
    if (ls.length === 0) return name || "{}";
    return name + "{" + ls.map(function (k) { return k + "=" + JSON.stringify(metric[k]); }).join(", ") + "}";
  }
  // Upstream's graph value format: SI prefixes with two decimals.
  var SI = [[1e24, "Y"], [1e21, "Z"], [1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  var SI_SMALL = [[1e-3, "m"], [1e-6, "µ"], [1e-9, "n"], [1e-12, "p"], [1e-15, "f"], [1e-18, "a"], [1e-21, "z"], [1e-24, "y"]];
  function siScale(abs) {
    if (!isFinite(abs) || abs === 0) return [1, ""];
    for (var i = 0; i < SI.length; i++) if (abs >= SI[i][0]) return SI[i];
    if (abs >= 1) return [1, ""];
    for (var j = 0; j < SI_SMALL.length; j++) if (abs >= SI_SMALL[j][0]) return SI_SMALL[j];
    return SI_SMALL[SI_SMALL.length - 1];
  }
  function formatValue(v) {
    if (v === null || v === undefined) return "null";
    if (isNaN(v)) return "NaN";
    if (!isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
    var sc = siScale(Math.abs(v));
    return (v / sc[0]).toFixed(2) + sc[1];
  }

  // ---- page chrome ----
  var PAGES = [["graph", "Graph"], ["alerts", "Alerts"], ["rules", "Rules"], ["targets", "Targets"], ["status", "Status"]];
  function currentPage() {
    var seg = location.pathname.replace(/\/+$/, "").split("/").pop();
    return seg || document.body.getAttribute("data-page") || "graph";
  }
  function renderNav() {
    var nav = document.getElementById("topnav");
    if (!nav) return;
    var page = currentPage();
    var statusish = ["status", "flags", "config", "tsdb-status", "service-discovery"];
    var box = el("input", { type: "checkbox", id: "localtime" });
    box.checked = !useUTC();
    box.addEventListener("change", function () {
      localStorage.setItem("promlite.localTime", box.checked ? "1" : "0");
      document.dispatchEvent(new Event("pl-timezone"));
    });
    append(nav, [
      el("a", { class: "brand", href: "graph" }, ["prom", el("span", null, "lite")]),
      PAGES.map(function (p) {
        var active = p[0] === page || (p[0] === "status" && statusish.indexOf(page) >= 0) ||
          (p[0] === "graph" && page === "query");
        return el("a", { class: "navlink" + (active ? " active" : ""), href: p[0] }, p[1]);
      }),
      el("span", { class: "spacer" }),
      el("label", { for: "localtime", title: "Show times in the browser's time zone instead of UTC" }, [box, " Local time"])
    ]);
  }
  function errorBox(err) { return el("div", { class: "error" }, String(err)); }
  function warningBoxes(json) {
    return (json.warnings || []).map(function (w) { return el("div", { class: "warning" }, "Warning: " + w); })
      .concat((json.infos || []).map(function (w) { return el("div", { class: "info-msg" }, "Info: " + w); }));
  }

  document.addEventListener("DOMContentLoaded", renderNav);

  return {
    el: el, append: append, clear: clear, api: api, encodeParams: encodeParams, ApiError: ApiError,
    useUTC: useUTC, parts: parts, pad: pad, formatTime: formatTime, toInputTime: toInputTime, fromInputTime: fromInputTime,
    parseDuration: parseDuration, formatDuration: formatDuration, ago: ago, humanSeconds: humanSeconds,
    formatSeries: formatSeries, formatValue: formatValue, siScale: siScale,
    currentPage: currentPage, errorBox: errorBox, warningBoxes: warningBoxes
  };
})();
