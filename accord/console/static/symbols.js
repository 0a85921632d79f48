/* Accord console: MIL-STD-2525D / APP-6 symbols on the live picture, drawn with the vendored
 * milsymbol.js (static/vendor/, MIT) from each placeholder's data-sidc (the server chooses the
 * SIDC: accord/warning/symbols.py). Own code, Apache-2.0; a static file (the CSP allows no inline
 * script). A placeholder <g class="symbol" data-sidc="…" transform="translate(x y)"> gets the
 * symbol with its anchor at (x, y) and data-drawn="milsymbol"; its fallback shape is then hidden
 * (console.css). A placeholder with data-fit sizes its <svg> to the symbol (the legend). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var cache = {};

  function make(sidc, size) {
    var key = sidc + "/" + size;
    if (!(key in cache)) {
      var s = new window.ms.Symbol(sidc, {size: size});
      cache[key] = s.isValid() ? {svg: s.asSVG(), anchor: s.getAnchor(), size: s.getSize()} : null;
    }
    return cache[key];
  }

  function draw(root) {
    if (!window.ms || !root) { return; }
    root.querySelectorAll("g[data-sidc]:not([data-drawn])").forEach(function (g) {
      var size = parseInt(g.dataset.size || "16", 10);
      var sym = make(g.dataset.sidc, size);
      if (!sym) { return; }
      var parsed = new DOMParser().parseFromString(sym.svg, "image/svg+xml").documentElement;
      if (parsed.nodeName !== "svg") { return; }
      var svg = document.importNode(parsed, true);
      svg.setAttribute("class", "milsymbol");
      if (g.hasAttribute("data-fit")) {
        var outer = g.ownerSVGElement;
        outer.setAttribute("width", String(sym.size.width));
        outer.setAttribute("height", String(sym.size.height));
        outer.setAttribute("viewBox", "0 0 " + sym.size.width + " " + sym.size.height);
      } else {
        svg.setAttribute("x", String(-sym.anchor.x));
        svg.setAttribute("y", String(-sym.anchor.y));
      }
      g.appendChild(svg);
      g.setAttribute("data-drawn", "milsymbol");
    });
  }

  window.AccordSymbols = {draw: draw, SVG: SVG};
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
}());
