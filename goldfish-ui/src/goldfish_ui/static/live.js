/* Live pages: an active run's page and the overview poll a JSON endpoint and update in place
 * (states, durations, metric curves, the log tail) until nothing is active. Text from the data
 * is set with textContent, never as markup. */
(function () {
  "use strict";

  var interval = Number(document.body.getAttribute("data-live-ms")) || 1000;

  function duration(s) {
    if (s === null || s === undefined) return "-";
    if (s < 60) return s.toFixed(1) + "s";
    var m = Math.floor(s / 60), h = Math.floor(m / 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + "h" + pad(m % 60) + "m" : m + "m" + pad(Math.floor(s % 60)) + "s";
  }

  function stateBadge(state) {
    var span = document.createElement("span");
    span.className = "state state-" + state;
    span.textContent = state;
    return span;
  }

  function replace(node, child) {
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(child);
  }

  function poll(url, apply) {
    var timer = null;
    function tick() {
      fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          var more = data ? apply(data) : true;
          if (more) timer = setTimeout(tick, interval);
        })
        .catch(function () { timer = setTimeout(tick, interval * 3); });
    }
    timer = setTimeout(tick, interval);
    return function () { clearTimeout(timer); };
  }

  function liveRun(head) {
    var run = head.getAttribute("data-run");
    poll("/api/runs/" + encodeURIComponent(run), function (data) {
      replace(document.getElementById("run-state"), stateBadge(data.state));
      data.stages.forEach(function (s) {
        var row = document.querySelector('#stages tr[data-stage="' + CSS.escape(s.stage) + '"]');
        if (!row) return;
        replace(row.querySelector("td.st"), stateBadge(s.state));
        row.querySelector("td.dur").textContent = duration(s.duration);
        var cell = row.querySelector("td.metrics");
        while (cell.firstChild) cell.removeChild(cell.firstChild);
        Object.keys(s.metrics || {}).forEach(function (name) {
          var span = document.createElement("span");
          span.className = "metric";
          var v = s.metrics[name];
          span.textContent = name + " " + (v === null ? "-" : Number(v.toPrecision(4)));
          cell.append(span, " ");
        });
      });
      var plots = document.querySelector("section.plots");
      if (plots && window.GoldfishPlot) window.GoldfishPlot.update(plots, data.plot);
      if (data.log) {
        document.getElementById("log-stage").textContent = data.log.stage;
        var pre = document.getElementById("log-text");
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = data.log.text || data.log.note;
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      head.setAttribute("data-active", data.active ? "true" : "false");
      head.setAttribute("data-updates", String(Number(head.getAttribute("data-updates") || 0) + 1));
      return data.active;
    });
  }

  function stageBar(run) {
    var ol = document.createElement("ol");
    ol.className = "stages-bar";
    ol.setAttribute("data-run", run.run);
    run.stages.forEach(function (s) {
      var li = document.createElement("li");
      li.className = "stage state-" + s.state;
      li.setAttribute("data-stage", s.stage);
      li.title = s.stage + ": " + s.state;
      [["name", s.stage], ["st", s.state], ["dur", duration(s.duration)]].forEach(function (p, i) {
        var span = document.createElement("span");
        span.className = p[0];
        span.textContent = p[1];
        if (i) li.appendChild(document.createTextNode(" "));
        li.appendChild(span);
      });
      ol.appendChild(li);
    });
    return ol;
  }

  function liveOverview(section) {
    var list = section.querySelector(".active-list");
    poll("/api/active", function (runs) {
      var box = document.createElement("div");
      box.className = "active-list";
      if (!runs.length) {
        var p = document.createElement("p");
        p.className = "muted none";
        p.textContent = "nothing running";
        box.appendChild(p);
      }
      runs.forEach(function (run) {
        var div = document.createElement("div");
        div.className = "active-run";
        div.setAttribute("data-run", run.run);
        var a = document.createElement("a");
        a.className = "run";
        a.href = "/runs/" + encodeURIComponent(run.run);
        a.textContent = run.run;
        var ws = document.createElement("span");
        ws.className = "ws";
        ws.textContent = run.workspace;
        div.append(a, " ", ws, " ", stateBadge(run.state), stageBar(run));
        box.appendChild(div);
      });
      list.replaceWith(box);
      list = box;
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var head = document.querySelector("section.run-head");
    if (head && head.getAttribute("data-active") === "true") liveRun(head);
    var active = document.getElementById("active-runs");
    if (active) liveOverview(active);
  });
})();
