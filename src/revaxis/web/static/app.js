// Charts and exports of the revaxis web app.
//
// A chart is a <div class="chart" data-figure="ID"> next to a
// <script type="application/json" id="ID"> that contains its Plotly figure
// ({"data": [...], "layout": {...}, "export": {"title": ...}}), so that pages
// need no inline script. A button with data-png-for="CHART_DIV_ID" downloads
// that chart as PNG, with the figure's export title above it.
"use strict";

function readFigure(div) {
  var source = document.getElementById(div.dataset.figure);
  return source ? JSON.parse(source.textContent) : null;
}

function renderCharts(root) {
  root.querySelectorAll(".chart[data-figure]").forEach(function (div) {
    var figure = readFigure(div);
    if (!figure || div.dataset.rendered === "1") {
      return;
    }
    var layout = Object.assign({ margin: { t: 30, r: 20, b: 50, l: 70 } }, figure.layout || {});
    Plotly.newPlot(div, figure.data, layout, {
      displaylogo: false,
      responsive: true,
      // The PNG button is the one image export: it adds the title.
      modeBarButtonsToRemove: ["toImage"],
    });
    div.dataset.rendered = "1";
    // A click on a point opens its drill-down when the page defines one.
    if (div.dataset.drill) {
      div.on("plotly_click", function (event) {
        var point = event.points[0];
        // Points without customdata (the "Other" line) have no drill-down.
        if (!point.customdata) {
          return;
        }
        var params = new URLSearchParams(point.customdata);
        var joiner = div.dataset.drill.indexOf("?") === -1 ? "?" : "&";
        htmx.ajax("GET", div.dataset.drill + joiner + params.toString(), { target: div.dataset.drillTarget || "#drill" });
      });
    }
  });
}

// The figure that the PNG download draws: the chart as shown, with the title
// of the figure's `export` entry and room above the plot for it.
function exportFigure(div) {
  var figure = readFigure(div) || {};
  var title = (figure.export || {}).title || "";
  var layout = JSON.parse(JSON.stringify(div.layout));
  layout.title = { text: title, x: 0.02, xanchor: "left", font: { size: 16 } };
  layout.margin = Object.assign({}, layout.margin, { t: 70 });
  layout.paper_bgcolor = "#ffffff";
  return { data: div.data, layout: layout };
}

function downloadPng(div) {
  var width = div.clientWidth || 900;
  var height = (div.clientHeight || 450) + 40;
  var name = div.dataset.filename || "revaxis-chart";
  return Plotly.toImage(exportFigure(div), { format: "png", width: width, height: height }).then(function (url) {
    var link = document.createElement("a");
    link.href = url;
    link.download = name + ".png";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
}

window.revaxis = { exportFigure: exportFigure, downloadPng: downloadPng };

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-png-for]");
  if (!button) {
    return;
  }
  downloadPng(document.getElementById(button.dataset.pngFor));
});

document.addEventListener("DOMContentLoaded", function () {
  renderCharts(document);
});
document.addEventListener("htmx:afterSettle", function (event) {
  renderCharts(event.detail.elt);
});
