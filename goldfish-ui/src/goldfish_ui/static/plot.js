/* Goldfish metric plots: SVG drawn in the page, no library.
 *
 * One panel per metric (small multiples: each keeps its own y-axis), one colour per run (the
 * same in every panel), a legend naming the runs, axes with "nice" ticks (1, 2, 5 x 10^k; powers
 * of ten on a log axis; clock-friendly steps on a time axis), a log-scale toggle, exponential
 * smoothing with a slider (debiased, as TensorBoard does: the first points are not pulled to
 * zero), and x as step, time since the run's first point, or wall clock.
 *
 * Data (the JSON the page embeds, and what /api/runs/RUN returns under "plot"):
 *   {runs: [run ids], panels: [{metric, series: [{run, points: [[step, value, time], ...]}]}]}
 * Everything from the data is written with textContent / setAttribute, never as markup.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                 "#F0E442"];
  var WIDTH = 520, HEIGHT = 320;
  var MARGIN = {left: 66, right: 18, top: 34, bottom: 46};
  var LEGEND_ROW = 16, LEGEND_PER_ROW = 3;
  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                    21600, 43200, 86400];

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, attrs[key]);
    }
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /* --- ticks ---------------------------------------------------------------------------- */

  function niceNumber(x, round) {
    var exp = Math.floor(Math.log10(x));
    var f = x / Math.pow(10, exp);
    var nf;
    if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * Math.pow(10, exp);
  }

  function widen(lo, hi) {
    if (hi > lo) return [lo, hi];
    var pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }

  /* Ticks on a linear axis: a round step (1, 2 or 5 x 10^k), the domain extended to whole
   * steps so the first and last ticks sit on the frame. */
  function linearTicks(lo, hi, count) {
    var span = widen(lo, hi);
    lo = span[0]; hi = span[1];
    var step = niceNumber(niceNumber(hi - lo, false) / Math.max(1, count - 1), true);
    var start = Math.floor(lo / step) * step, end = Math.ceil(hi / step) * step;
    var ticks = [];
    for (var i = 0; start + i * step <= end + step / 2; i++) {
      ticks.push(Number((start + i * step).toPrecision(12)));
    }
    return {lo: start, hi: end, ticks: ticks, step: step};
  }

  /* Ticks on a log axis: powers of ten, with 2x and 5x between them over a short range. */
  function logTicks(lo, hi) {
    var e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
    if (e1 === e0) e1 += 1;
    var ticks = [];
    for (var e = e0; e <= e1; e++) {
      var p = Math.pow(10, e);
      ticks.push(Number(p.toPrecision(12)));
      if (e1 - e0 <= 2 && e < e1) ticks.push(Number((2 * p).toPrecision(12)), Number((5 * p).toPrecision(12)));
    }
    return {lo: Math.pow(10, e0), hi: Math.pow(10, e1), ticks: ticks, step: 0, log: true};
  }

  /* Ticks on a wall-clock axis (seconds since the epoch): steps a clock reads well. */
  function timeTicks(lo, hi, count) {
    var span = widen(lo, hi);
    lo = span[0]; hi = span[1];
    var want = (hi - lo) / Math.max(1, count - 1), step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if (TIME_STEPS[i] >= want) { step = TIME_STEPS[i]; break; }
    }
    var start = Math.floor(lo / step) * step, end = Math.ceil(hi / step) * step;
    var ticks = [];
    for (var t = start; t <= end + step / 2; t += step) ticks.push(t);
    return {lo: start, hi: end, ticks: ticks, step: step, clock: true};
  }

  function formatNumber(v, step) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(a >= 1e5 && step >= 1e4 ? 0 : 1)
      .replace("e+", "e");
    var decimals = step > 0 ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))) : 0;
    if (step === 0) decimals = a < 1 ? Math.min(6, -Math.floor(Math.log10(a) + 1e-9)) : 0;
    return v.toFixed(decimals);
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function formatClock(t) {
    var d = new Date(t * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function formatElapsed(s, step) {
    if (Math.abs(s) < 120 || step < 1) return formatNumber(s, step) + "s";
    var m = Math.floor(s / 60), rest = Math.round(s - m * 60);
    return m + ":" + pad2(rest);
  }

  /* --- data ----------------------------------------------------------------------------- */

  /* Debiased exponential moving average: weight 0 is the raw series. */
  function smooth(values, weight) {
    if (!(weight > 0)) return values.slice();
    var out = [], last = 0;
    for (var i = 0; i < values.length; i++) {
      last = last * weight + (1 - weight) * values[i];
      out.push(last / (1 - Math.pow(weight, i + 1)));
    }
    return out;
  }

  function xValues(points, mode) {
    var t0 = points.length ? points[0][2] : 0;
    return points.map(function (p) {
      return mode === "elapsed" ? p[2] - t0 : mode === "wall" ? p[2] : p[0];
    });
  }

  function xLabel(mode) {
    return mode === "elapsed" ? "time since the run's first point" :
           mode === "wall" ? "wall clock" : "step";
  }

  /* --- one panel ------------------------------------------------------------------------ */

  function renderPanel(panel, options, colours) {
    var runs = panel.series.map(function (s) { return s.run; });
    var legendRows = Math.ceil(runs.length / LEGEND_PER_ROW);
    var top = MARGIN.top + legendRows * LEGEND_ROW;
    var height = HEIGHT + legendRows * LEGEND_ROW;
    var svg = el("svg", {"class": "gf-plot", width: WIDTH, height: height,
                         viewBox: "0 0 " + WIDTH + " " + height, role: "img",
                         "data-metric": panel.metric});
    el("title", {}, svg, panel.metric);
    el("text", {"class": "gf-title", x: MARGIN.left, y: 16}, svg, panel.metric);

    var series = panel.series.map(function (s) {
      var xs = xValues(s.points, options.x);
      var ys = s.points.map(function (p) { return p[1]; });
      var keep = [];
      for (var i = 0; i < xs.length; i++) {
        if (isFinite(xs[i]) && isFinite(ys[i]) && (!options.log || ys[i] > 0)) keep.push(i);
      }
      xs = keep.map(function (i) { return xs[i]; });
      ys = keep.map(function (i) { return ys[i]; });
      return {run: s.run, xs: xs, ys: ys, smoothed: smooth(ys, options.smoothing)};
    });
    var allX = [], allY = [];
    series.forEach(function (s) { allX = allX.concat(s.xs); allY = allY.concat(s.ys, s.smoothed); });

    var legend = el("g", {"class": "gf-legend"}, svg);
    runs.forEach(function (run, i) {
      var lx = MARGIN.left + (i % LEGEND_PER_ROW) * 150, ly = 24 + Math.floor(i / LEGEND_PER_ROW) * LEGEND_ROW;
      var item = el("g", {"class": "gf-legend-item", "data-run": run}, legend);
      el("rect", {x: lx, y: ly, width: 14, height: 4, fill: colours[run]}, item);
      el("text", {x: lx + 18, y: ly + 6}, item, run);
    });

    var plot = {left: MARGIN.left, right: WIDTH - MARGIN.right, top: top,
                bottom: height - MARGIN.bottom};
    el("rect", {"class": "gf-frame", x: plot.left, y: plot.top, width: plot.right - plot.left,
                height: plot.bottom - plot.top}, svg);
    if (!allX.length) {
      el("text", {"class": "gf-empty", x: (plot.left + plot.right) / 2,
                  y: (plot.top + plot.bottom) / 2, "text-anchor": "middle"}, svg,
         options.log ? "no positive values to show on a log scale" : "no points yet");
      return svg;
    }
    var xMin = Math.min.apply(null, allX), xMax = Math.max.apply(null, allX);
    var yMin = Math.min.apply(null, allY), yMax = Math.max.apply(null, allY);
    var xt = options.x === "wall" ? timeTicks(xMin, xMax, 6) : linearTicks(xMin, xMax, 6);
    var yt = options.log ? logTicks(yMin, yMax) : linearTicks(yMin, yMax, 6);

    function sx(x) { return plot.left + (x - xt.lo) / (xt.hi - xt.lo) * (plot.right - plot.left); }
    function sy(y) {
      var f = options.log ? (Math.log10(y) - Math.log10(yt.lo)) / (Math.log10(yt.hi) - Math.log10(yt.lo))
                          : (y - yt.lo) / (yt.hi - yt.lo);
      return plot.bottom - f * (plot.bottom - plot.top);
    }

    var grid = el("g", {"class": "gf-grid"}, svg);
    var axes = el("g", {"class": "gf-axes"}, svg);
    xt.ticks.forEach(function (t) {
      var x = sx(t);
      el("line", {x1: x, x2: x, y1: plot.top, y2: plot.bottom}, grid);
      el("line", {x1: x, x2: x, y1: plot.bottom, y2: plot.bottom + 5}, axes);
      var label = options.x === "wall" ? formatClock(t) :
                  options.x === "elapsed" ? formatElapsed(t, xt.step) : formatNumber(t, xt.step);
      el("text", {"class": "gf-tick gf-tick-x", x: x, y: plot.bottom + 18,
                  "text-anchor": "middle"}, svg, label);
    });
    yt.ticks.forEach(function (t) {
      var y = sy(t);
      el("line", {x1: plot.left, x2: plot.right, y1: y, y2: y}, grid);
      el("line", {x1: plot.left - 5, x2: plot.left, y1: y, y2: y}, axes);
      el("text", {"class": "gf-tick gf-tick-y", x: plot.left - 8, y: y + 4,
                  "text-anchor": "end"}, svg, formatNumber(t, yt.step));
    });
    el("text", {"class": "gf-axis-label gf-x-label", x: (plot.left + plot.right) / 2,
                y: height - 8, "text-anchor": "middle"}, svg, xLabel(options.x));
    el("text", {"class": "gf-axis-label gf-y-label", x: 14, y: (plot.top + plot.bottom) / 2,
                "text-anchor": "middle",
                transform: "rotate(-90 14 " + (plot.top + plot.bottom) / 2 + ")"}, svg,
       panel.metric.split(".").pop() + (options.log ? " (log)" : ""));

    var lines = el("g", {"class": "gf-lines"}, svg);
    series.forEach(function (s) {
      if (!s.xs.length) return;
      var colour = colours[s.run];
      function d(ys) {
        return s.xs.map(function (x, i) {
          return (i ? "L" : "M") + sx(x).toFixed(1) + " " + sy(ys[i]).toFixed(1);
        }).join(" ");
      }
      if (options.smoothing > 0) {
        el("path", {"class": "gf-raw", d: d(s.ys), stroke: colour, fill: "none"}, lines);
      }
      el("path", {"class": "gf-line", d: d(s.smoothed), stroke: colour, fill: "none",
                  "data-run": s.run, "data-points": s.xs.length}, lines);
      if (s.xs.length <= 30) {
        s.xs.forEach(function (x, i) {
          el("circle", {"class": "gf-dot", cx: sx(x).toFixed(1), cy: sy(s.smoothed[i]).toFixed(1),
                        r: 2.5, fill: colour}, lines);
        });
      }
    });
    return svg;
  }

  /* --- a section of panels with its controls --------------------------------------------- */

  function options(section) {
    var smoothing = Number(section.querySelector(".gf-smooth").value);
    section.querySelector(".gf-smooth-value").textContent = smoothing.toFixed(2);
    return {x: section.querySelector(".gf-x").value, log: section.querySelector(".gf-log").checked,
            smoothing: smoothing};
  }

  function draw(section) {
    var data = section.gfData, holder = section.querySelector(".plot-panels");
    var colours = {};
    (data.runs || []).forEach(function (run, i) { colours[run] = PALETTE[i % PALETTE.length]; });
    var opts = options(section);
    while (holder.firstChild) holder.removeChild(holder.firstChild);
    if (!data.panels || !data.panels.length) {
      var p = document.createElement("p");
      p.className = "muted gf-none";
      p.textContent = "no metrics logged (yet)";
      holder.appendChild(p);
      return;
    }
    data.panels.forEach(function (panel) { holder.appendChild(renderPanel(panel, opts, colours)); });
  }

  function mount(section) {
    var script = section.querySelector("script.plot-data");
    section.gfData = JSON.parse(script.textContent);
    ["change", "input"].forEach(function (kind) {
      section.querySelector(".plot-controls").addEventListener(kind, function () { draw(section); });
    });
    draw(section);
  }

  function update(section, data) {
    section.gfData = data;
    draw(section);
  }

  window.GoldfishPlot = {mount: mount, update: update, linearTicks: linearTicks,
                         logTicks: logTicks, timeTicks: timeTicks, smooth: smooth};
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("section.plots"), mount);
  });
})();
