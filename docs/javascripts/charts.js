/* Draw every <div class="rg-chart" data-src="NAME.json"> with Plotly.
 *
 * The JSON is a plotly figure spec (data + layout) written next to the page by
 * `reportgen render`.  mkdocs-material's instant navigation swaps the page
 * content without reloading scripts, so drawing is hooked to its `document$`
 * observable (which emits on the first load and on every navigation); without
 * the theme's observable we fall back to DOMContentLoaded.
 */
(function () {
  "use strict";

  function dark() {
    var scheme = document.body && document.body.getAttribute("data-md-color-scheme");
    return scheme === "slate";
  }

  function themed(layout) {
    layout = layout || {};
    if (dark()) {
      layout.template = undefined;
      layout.paper_bgcolor = "rgba(0,0,0,0)";
      layout.plot_bgcolor = "rgba(0,0,0,0)";
      layout.font = Object.assign({}, layout.font || {}, { color: "#e0e0e0" });
    }
    return layout;
  }

  function draw(el) {
    if (el.getAttribute("data-rg-state") === "drawing") return;
    var src = el.getAttribute("data-src");
    if (!src || typeof Plotly === "undefined") return;
    el.setAttribute("data-rg-state", "drawing");
    var url = new URL(src, document.baseURI || window.location.href);
    fetch(url.href)
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status + " for " + url.href);
        return r.json();
      })
      .then(function (fig) {
        return Plotly.newPlot(el, fig.data || [], themed(fig.layout), {
          responsive: true, displaylogo: false
        });
      })
      .then(function () { el.setAttribute("data-rg-state", "drawn"); })
      .catch(function (err) {
        el.setAttribute("data-rg-state", "failed");
        el.textContent = "This chart could not be drawn (" + err.message + "); its data is linked below.";
      });
  }

  function drawAll() {
    document.querySelectorAll("div.rg-chart").forEach(draw);
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(drawAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
