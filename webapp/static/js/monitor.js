// Draws the monitor's charts with the vendored Chart.js from each chart's JSON data.
// <canvas data-chart="scores" data-url="/monitor/charts/scores.json?quarter=3">; the same data is
// in a table next to the chart and downloadable as CSV, so nothing depends on this script.
(function () {
  "use strict";

  var PALETTE = ["#b4191e", "#0b5cad", "#1a7f37", "#9a6700", "#6f42c1", "#00838f", "#d84315", "#5d4037",
    "#546e7a", "#ad1457", "#2e7d32", "#283593"];
  var GRADE_COLOURS = { excellent: "#1a7f37", pass: "#0b5cad", fail: "#c62828" };

  function dataset(data, key) {
    var i = data.keys.indexOf(key);
    return i < 0 ? null : data.datasets[i];
  }

  function base(type, data, extra) {
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } },
      scales: { y: { beginAtZero: true } }
    };
    return Object.assign({ type: type, data: { labels: data.labels, datasets: [] }, options: options }, extra || {});
  }

  var BUILD = {
    completion: function (data) {
      var config = base("line", data);
      config.data.datasets = data.datasets.map(function (d, i) {
        return { label: d.label, data: d.data, borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length], tension: 0.2, pointRadius: 2 };
      });
      return config;
    },
    scores: function (data) {
      var config = base("bar", data);
      config.data.datasets = data.datasets.map(function (d, i, all) {
        var colour = PALETTE[(all.length - 1 - i) % PALETTE.length];
        return { label: d.label, data: d.data, backgroundColor: colour + (i === all.length - 1 ? "" : "66") };
      });
      return config;
    },
    branches: function (data) {
      var mean = dataset(data, "mean"), spread = dataset(data, "spread");
      var low = dataset(data, "low"), high = dataset(data, "high");
      var config = base("bar", data);
      config.data.datasets = [
        { type: "bar", order: 2, label: mean.label + " ± " + spread.label, backgroundColor: "#e7a7a9",
          data: mean.data.map(function (m, i) { return m === null ? null : [m - spread.data[i], m + spread.data[i]]; }) },
        { type: "line", order: 1, label: mean.label, data: mean.data, showLine: false, pointStyle: "rectRot", pointRadius: 7,
          borderColor: "#8c1216", backgroundColor: "#b4191e" },
        { type: "line", order: 1, label: low.label, data: low.data, showLine: false, pointStyle: "line", pointRadius: 9,
          borderColor: "#5b6470", borderWidth: 2 },
        { type: "line", order: 1, label: high.label, data: high.data, showLine: false, pointStyle: "line", pointRadius: 9,
          borderColor: "#1f2328", borderWidth: 2 }
      ];
      config.options.scales.y.beginAtZero = false;
      return config;
    },
    grades: function (data) {
      var config = base("bar", data);
      config.data.datasets = data.keys.map(function (key, i) {
        return { label: data.datasets[i].label, data: data.datasets[i].data, backgroundColor: GRADE_COLOURS[key] };
      });
      config.options.scales = { x: { stacked: true }, y: { stacked: true, beginAtZero: true } };
      return config;
    },
    consistency: function (data) {
      var change = dataset(data, "mean_change");
      var config = base("bar", data);
      config.data.datasets = [{
        label: change.label, data: change.data,
        backgroundColor: data.flags.map(function (f) { return f === "harsh" ? "#c62828" : f === "lenient" ? "#0b5cad" : "#9aa3ad"; })
      }];
      config.options.indexAxis = "y";
      config.options.scales = { x: { beginAtZero: true } };
      config.options.plugins.tooltip = { callbacks: { afterLabel: function (item) {
        var flag = data.flags[item.dataIndex];
        return flag ? data.flag_labels[flag] : "";
      } } };
      return config;
    }
  };
  BUILD.grade_trend = BUILD.grades;

  function draw(canvas) {
    var build = BUILD[canvas.getAttribute("data-chart")];
    if (!build || typeof window.Chart !== "function") { return; }
    fetch(canvas.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (!data.labels.length) { canvas.closest(".chart-box").hidden = true; return; }
        new window.Chart(canvas, build(data));
      })
      .catch(function () { canvas.closest(".chart-box").hidden = true; });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), draw);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
