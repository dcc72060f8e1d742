// promlite web UI: the read-only pages — Targets, Service Discovery, Alerts, Rules and
// Status (with its Flags, Configuration and TSDB Status sections). Each renders upstream's /api/v1 JSON;
// the page is chosen from the URL's last path segment.
"use strict";

(function () {
  var el = PL.el;
  var main = document.getElementById("main");

  function labelBadges(labels) {
    return Object.keys(labels || {}).sort().map(function (k) {
      return el("span", { class: "badge label" }, k + "=\"" + labels[k] + "\"");
    });
  }
  function stateBadge(state) {
    var s = String(state || "unknown").toLowerCase();
    return el("span", { class: "badge " + s }, s.toUpperCase());
  }
  // A card whose header folds the body away; `open` is the initial state.
  function collapsible(headChildren, body, open) {
    var caret = el("span", { class: "caret" }, open ? "▾" : "▸");
    var card = el("div", { class: "card" + (open ? "" : " collapsed") });
    var head = el("div", { class: "group-head" }, [caret].concat(headChildren));
    head.addEventListener("click", function () {
      var c = card.classList.toggle("collapsed");
      caret.textContent = c ? "▸" : "▾";
    });
    PL.append(card, [head, el("div", { class: "group-body" }, body)]);
    return card;
  }
  function table(headers, rows) {
    return el("table", { class: "data" }, [
      // A header given as a node (e.g. a right-aligned numeric column) is used as is.
      el("thead", null, el("tr", null, headers.map(function (h) { return typeof h === "object" ? h : el("th", null, h); }))),
      el("tbody", null, rows)
    ]);
  }
  function load(path, params, render) {
    var box = el("div", null, el("div", { class: "info-msg" }, "Loading…"));
    main.appendChild(box);
    PL.api(path, params).then(function (json) {
      PL.clear(box);
      PL.append(box, PL.warningBoxes(json));
      render(box, json.data);
    }, function (err) {
      PL.clear(box).appendChild(PL.errorBox("Error fetching " + path + ": " + err));
    });
    return box;
  }

  // ---------------------------------------------------------------- Targets
  function targets() {
    main.appendChild(el("h1", null, "Targets"));
    var filter = "all", search = "", data = null, out = el("div");
    var bAll = el("button", { type: "button", class: "primary" }, "All");
    var bBad = el("button", { type: "button" }, "Unhealthy");
    var q = el("input", { type: "search", placeholder: "Filter by endpoint or labels", style: "width:320px" });
    function setFilter(f) {
      filter = f;
      bAll.className = f === "all" ? "primary" : "";
      bBad.className = f === "unhealthy" ? "primary" : "";
      render();
    }
    bAll.addEventListener("click", function () { setFilter("all"); });
    bBad.addEventListener("click", function () { setFilter("unhealthy"); });
    q.addEventListener("input", function () { search = q.value.toLowerCase(); render(); });
    main.appendChild(el("div", { class: "toolbar" }, [el("span", { class: "btn-group" }, [bAll, bBad]), q]));
    main.appendChild(out);

    function render() {
      PL.clear(out);
      var pools = {};
      (data.activeTargets || []).forEach(function (t) { (pools[t.scrapePool] = pools[t.scrapePool] || []).push(t); });
      var names = Object.keys(pools).sort();
      if (!names.length) { out.appendChild(el("div", { class: "info-msg" }, "No active targets.")); return; }
      names.forEach(function (pool) {
        var all = pools[pool], up = all.filter(function (t) { return t.health === "up"; }).length;
        var shown = all.filter(function (t) {
          if (filter === "unhealthy" && t.health === "up") return false;
          if (!search) return true;
          return (t.scrapeUrl + " " + JSON.stringify(t.labels)).toLowerCase().indexOf(search) >= 0;
        });
        if (!shown.length && (filter !== "all" || search)) return;
        var rows = shown.map(function (t) {
          return el("tr", null, [
            el("td", null, el("a", { href: t.scrapeUrl }, t.scrapeUrl)),
            el("td", null, stateBadge(t.health)),
            el("td", null, labelBadges(t.labels)),
            el("td", { title: t.lastScrape }, [PL.ago(t.lastScrape), t.scrapeInterval ?
              el("div", { class: "muted", style: "font-size:12px" }, "every " + t.scrapeInterval + ", timeout " + t.scrapeTimeout) : null]),
            el("td", null, PL.humanSeconds(t.lastScrapeDuration)),
            el("td", { style: "color:var(--bad)" }, t.lastError || "")
          ]);
        });
        out.appendChild(collapsible([
          el("h3", null, pool),
          el("span", { class: "badge " + (up === all.length ? "up" : "down") }, up + "/" + all.length + " up")
        ], table(["Endpoint", "State", "Labels", "Last Scrape", "Scrape Duration", "Error"], rows), true));
      });
      if (!out.firstChild) out.appendChild(el("div", { class: "info-msg" }, "No targets match the filter."));
    }
    load("targets", null, function (box, d) { data = d || {}; render(); });
  }

  // ---------------------------------------------------------------- Service discovery
  // Discovered labels next to the labels after relabeling; dropped targets show why a
  // target is missing from /targets.
  function serviceDiscovery() {
    document.title = "Service Discovery · promlite";
    main.appendChild(el("h1", null, "Service Discovery"));
    load("targets", null, function (box, d) {
      d = d || {};
      var pools = {};
      function pool(name) { return (pools[name] = pools[name] || { active: [], dropped: [] }); }
      (d.activeTargets || []).forEach(function (t) { pool(t.scrapePool).active.push(t); });
      (d.droppedTargets || []).forEach(function (t) {
        var name = t.scrapePool || (t.discoveredLabels || {}).job || "unknown";
        pool(name).dropped.push(t);
      });
      var names = Object.keys(pools).sort();
      if (!names.length) { box.appendChild(el("div", { class: "info-msg" }, "No targets have been discovered.")); return; }
      names.forEach(function (name) {
        var p = pools[name], rows = p.active.map(function (t) {
          return el("tr", null, [el("td", null, labelBadges(t.discoveredLabels)), el("td", null, labelBadges(t.labels))]);
        }).concat(p.dropped.map(function (t) {
          return el("tr", null, [el("td", null, labelBadges(t.discoveredLabels)), el("td", null, el("span", { class: "badge unknown" }, "DROPPED"))]);
        }));
        box.appendChild(collapsible([el("h3", null, name),
          el("span", { class: "muted" }, p.active.length + " / " + (p.active.length + p.dropped.length) + " active targets")],
        table(["Discovered Labels", "Target Labels"], rows), true));
      });
    });
  }

  // ---------------------------------------------------------------- Alerts
  function ruleText(r) {
    var lines = [(r.type === "alerting" ? "alert: " : "record: ") + r.name, "expr: " + r.query];
    if (r.duration) lines.push("for: " + PL.formatDuration(r.duration * 1000));
    if (r.keepFiringFor) lines.push("keep_firing_for: " + PL.formatDuration(r.keepFiringFor * 1000));
    [["labels", r.labels], ["annotations", r.annotations]].forEach(function (kv) {
      var keys = Object.keys(kv[1] || {});
      if (!keys.length) return;
      lines.push(kv[0] + ":");
      keys.sort().forEach(function (k) { lines.push("  " + k + ": " + kv[1][k]); });
    });
    return lines.join("\n");
  }

  function alerts() {
    main.appendChild(el("h1", null, "Alerts"));
    var show = { inactive: true, pending: true, firing: true }, data = null, out = el("div");
    var bar = el("div", { class: "toolbar" });
    main.appendChild(bar);
    main.appendChild(out);
    function render() {
      var rules = [];
      (data.groups || []).forEach(function (g) {
        (g.rules || []).forEach(function (r) { if (r.type === "alerting") rules.push({ g: g, r: r }); });
      });
      var counts = { inactive: 0, pending: 0, firing: 0 };
      rules.forEach(function (x) { counts[x.r.state] = (counts[x.r.state] || 0) + 1; });
      PL.clear(bar);
      ["inactive", "pending", "firing"].forEach(function (s) {
        var box = el("input", { type: "checkbox" });
        box.checked = show[s];
        box.addEventListener("change", function () { show[s] = box.checked; render(); });
        bar.appendChild(el("label", null, [box, " ", stateBadge(s), " (" + counts[s] + ")"]));
      });
      PL.clear(out);
      if (!rules.length) { out.appendChild(el("div", { class: "info-msg" }, "No alerting rules are configured.")); return; }
      var byFile = {};
      rules.forEach(function (x) {
        if (!show[x.r.state]) return;
        var k = x.g.file + " > " + x.g.name;
        (byFile[k] = byFile[k] || []).push(x.r);
      });
      Object.keys(byFile).forEach(function (k) {
        out.appendChild(el("h2", null, k));
        byFile[k].forEach(function (r) {
          var list = r.alerts || [];
          var body = el("div", { class: "card-body" }, [
            el("pre", { class: "rule yaml" }, ruleText(r)),
            r.lastError ? el("div", { class: "error" }, r.lastError) : null,
            list.length ? table(["Labels", "State", "Active Since", "Value"], list.map(function (a) {
              return el("tr", null, [
                el("td", null, [labelBadges(a.labels), Object.keys(a.annotations || {}).length ?
                  el("div", { class: "muted", style: "margin-top:4px" }, Object.keys(a.annotations).sort().map(function (k) {
                    return el("div", null, k + ": " + a.annotations[k]);
                  })) : null]),
                el("td", null, stateBadge(a.state)),
                el("td", { title: a.activeAt || "" }, a.activeAt ? PL.formatTime(Date.parse(a.activeAt)) : ""),
                el("td", { class: "num" }, a.value)
              ]);
            })) : null
          ]);
          out.appendChild(collapsible([stateBadge(r.state), el("h3", null, r.name),
            el("span", { class: "muted" }, "(" + list.length + " active)")], body, r.state !== "inactive"));
        });
      });
    }
    load("rules", { type: "alert" }, function (box, d) { data = d || {}; render(); });
  }

  // ---------------------------------------------------------------- Rules
  function rules() {
    main.appendChild(el("h1", null, "Rules"));
    load("rules", null, function (box, d) {
      var groups = (d && d.groups) || [];
      if (!groups.length) { box.appendChild(el("div", { class: "info-msg" }, "No rule groups are configured.")); return; }
      groups.forEach(function (g) {
        var rows = (g.rules || []).map(function (r) {
          return el("tr", null, [
            el("td", null, [el("pre", { class: "rule" }, ruleText(r)),
              r.lastError ? el("div", { class: "error" }, "Error: " + r.lastError) : null]),
            el("td", null, stateBadge(r.health)),
            el("td", { title: r.lastEvaluation || "" }, PL.ago(r.lastEvaluation)),
            el("td", null, PL.humanSeconds(r.evaluationTime))
          ]);
        });
        box.appendChild(collapsible([
          el("h3", null, g.name),
          el("span", { class: "muted" }, g.file + " · every " + PL.formatDuration((g.interval || 0) * 1000) +
            " · last evaluation " + PL.ago(g.lastEvaluation) + " took " + PL.humanSeconds(g.evaluationTime))
        ], table(["Rule", "State", "Last Evaluation", "Evaluation Time"], rows), true));
      });
    });
  }

  // ---------------------------------------------------------------- Status
  function kvTable(pairs) {
    return el("table", { class: "data kv" }, el("tbody", null, pairs.map(function (p) {
      return el("tr", null, [el("td", null, p[0]), el("td", null, p[1] === undefined || p[1] === null ? "" : String(p[1]))]);
    })));
  }
  function section(title, body) { return [el("h3", { class: "sub" }, title), el("div", { class: "card" }, body)]; }

  function runtimeSection() {
    main.appendChild(el("h2", null, "Runtime Information"));
    load("status/runtimeinfo", null, function (box, d) {
      d = d || {};
      box.appendChild(el("div", { class: "card" }, kvTable([
        ["Start time", d.startTime ? PL.formatTime(Date.parse(d.startTime)) : ""],
        ["Working directory", d.CWD],
        ["Configuration reload", d.reloadConfigSuccess ? "Successful" : "Unsuccessful"],
        ["Last successful configuration reload", d.lastConfigTime ? PL.formatTime(Date.parse(d.lastConfigTime)) : ""],
        ["WAL corruptions", d.corruptionCount],
        ["Goroutines / threads", d.goroutineCount],
        ["GOMAXPROCS", d.GOMAXPROCS],
        ["GOMEMLIMIT", d.GOMEMLIMIT],
        ["GOGC", d.GOGC],
        ["GODEBUG", d.GODEBUG],
        ["Storage retention", d.storageRetention]
      ].filter(function (p) { return p[1] !== undefined; }))));
    });
    main.appendChild(el("h2", null, "Build Information"));
    load("status/buildinfo", null, function (box, d) {
      d = d || {};
      box.appendChild(el("div", { class: "card" }, kvTable(Object.keys(d).map(function (k) { return [k, d[k]]; }))));
    });
  }
  function alertmanagersSection() {
    main.appendChild(el("h2", null, "Alertmanagers"));
    load("alertmanagers", null, function (box, d) {
      d = d || {};
      var rows = [];
      (d.activeAlertmanagers || []).forEach(function (a) { rows.push(el("tr", null, [el("td", null, a.url), el("td", null, stateBadge("active"))])); });
      (d.droppedAlertmanagers || []).forEach(function (a) { rows.push(el("tr", null, [el("td", null, a.url), el("td", null, el("span", { class: "badge label" }, "DROPPED"))])); });
      if (!rows.length) { box.appendChild(el("div", { class: "info-msg" }, "No Alertmanagers are configured.")); return; }
      box.appendChild(el("div", { class: "card" }, table(["Endpoint", "State"], rows)));
    });
  }
  function flagsSection() {
    main.appendChild(el("h2", null, "Command-Line Flags"));
    load("status/flags", null, function (box, d) {
      d = d || {};
      var q = el("input", { type: "search", placeholder: "Filter by flag name or value", style: "width:320px" });
      var tb = el("tbody");
      function render() {
        var f = q.value.toLowerCase();
        PL.clear(tb);
        Object.keys(d).sort().forEach(function (k) {
          if (f && (k + " " + d[k]).toLowerCase().indexOf(f) < 0) return;
          tb.appendChild(el("tr", null, [el("td", null, el("code", null, "--" + k)), el("td", null, el("code", null, d[k]))]));
        });
      }
      q.addEventListener("input", render);
      render();
      PL.append(box, [el("div", { class: "toolbar" }, q), el("div", { class: "card" }, el("table", { class: "data kv" }, tb))]);
    });
  }
  function configSection() {
    main.appendChild(el("h2", null, "Configuration"));
    load("status/config", null, function (box, d) {
      var yaml = (d && d.yaml) || "";
      var btn = el("button", { type: "button" }, "Copy to clipboard");
      btn.addEventListener("click", function () {
        if (navigator.clipboard) navigator.clipboard.writeText(yaml).then(function () { btn.textContent = "Copied"; });
      });
      PL.append(box, [el("div", { class: "toolbar" }, btn), el("pre", { class: "yaml", id: "config-yaml" }, yaml)]);
    });
  }
  function tsdbSection() {
    main.appendChild(el("h2", null, "TSDB Status"));
    load("status/tsdb", null, function (box, d) {
      d = d || {};
      var h = d.headStats || {};
      var nodes = section("Head Block", kvTable([
        ["Number of series", h.numSeries], ["Number of chunks", h.chunkCount],
        ["Number of label pairs", h.numLabelPairs],
        ["Current min time", isFinite(h.minTime) ? PL.formatTime(h.minTime) + " (" + h.minTime + ")" : ""],
        ["Current max time", isFinite(h.maxTime) ? PL.formatTime(h.maxTime) + " (" + h.maxTime + ")" : ""]
      ]));
      [["Top 10 series count by metric names", d.seriesCountByMetricName, "Name", "Count"],
        ["Top 10 label names with value count", d.labelValueCountByLabelName, "Name", "Count"],
        ["Top 10 label names with high memory usage", d.memoryInBytesByLabelName, "Name", "Bytes"],
        ["Top 10 series count by label value pairs", d.seriesCountByLabelValuePair, "Name", "Count"]
      ].forEach(function (t) {
        if (!t[1]) return;
        nodes = nodes.concat(section(t[0], table([t[2], el("th", { style: "text-align:right" }, t[3])], t[1].map(function (x) {
          return el("tr", null, [el("td", { class: "series" }, x.name), el("td", { class: "num" }, String(x.value))]);
        }))));
      });
      PL.append(box, nodes);
    });
  }
  function status(page) {
    var titles = { status: "Status", flags: "Command-Line Flags", config: "Configuration", "tsdb-status": "TSDB Status" };
    document.title = titles[page] + " · promlite";
    main.appendChild(el("h1", null, titles[page]));
    main.appendChild(el("div", { class: "subnav" }, [["status", "Runtime & Build Information"], ["tsdb-status", "TSDB Status"],
      ["flags", "Command-Line Flags"], ["config", "Configuration"], ["rules", "Rules"], ["targets", "Targets"],
      ["service-discovery", "Service Discovery"]].map(function (l) {
      return el("a", { href: l[0] }, l[1]);
    })));
    if (page === "status") { runtimeSection(); alertmanagersSection(); tsdbSection(); flagsSection(); configSection(); }
    else if (page === "flags") flagsSection();
    else if (page === "config") configSection();
    else tsdbSection();
  }

  var page = PL.currentPage();
  if (page === "targets") targets();
  else if (page === "service-discovery") serviceDiscovery();
  else if (page === "alerts") alerts();
  else if (page === "rules") rules();
  else if (["status", "flags", "config", "tsdb-status"].indexOf(page) >= 0) status(page);
  else status("status");
})();
