// Charts and exports of the revaxis web app.
//
// A chart is a <div class="chart" data-figure="ID"> next to a
// <script type="application/json" id="ID"> that holds its Plotly figure
// ({"data": [...], "layout": {...}}), so that pages need no inline script.
// A button with data-png-for="CHART_DIV_ID" downloads that chart as PNG.
"use strict";

function renderCharts(root) {
  root.querySelectorAll(".chart[data-figure]").forEach(function (div) {
    var source = document.getElementById(div.dataset.figure);
    if (!source || div.dataset.rendered === "1") {
      return;
    }
    var figure = JSON.parse(source.textContent);
    var layout = Object.assign({ margin: { t: 30, r: 20, b: 50, l: 70 } }, figure.layout || {});
    Plotly.newPlot(div, figure.data, layout, {
      displaylogo: false,
      responsive: true,
      toImageButtonOptions: { format: "png", filename: div.dataset.filename || "revaxis-chart" },
    });
    div.dataset.rendered = "1";
    // A click on a point opens its drill-down when the page defines one.
    if (div.dataset.drill) {
      div.on("plotly_click", function (event) {
        var point = event.points[0];
        var params = new URLSearchParams(point.customdata ? point.customdata : {});
        var joiner = div.dataset.drill.indexOf("?") === -1 ? "?" : "&";
        htmx.ajax("GET", div.dataset.drill + joiner + params.toString(), { target: div.dataset.drillTarget || "#drill" });
      });
    }
  });
}

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-png-for]");
  if (!button) {
    return;
  }
  var div = document.getElementById(button.dataset.pngFor);
  Plotly.downloadImage(div, {
    format: "png",
    width: div.clientWidth || 900,
    height: div.clientHeight || 450,
    filename: div.dataset.filename || "revaxis-chart",
  });
});

document.addEventListener("DOMContentLoaded", function () {
  renderCharts(document);
});
document.addEventListener("htmx:afterSettle", function (event) {
  renderCharts(event.detail.elt);
});
