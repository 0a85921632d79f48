// Render the SIDCs of accord/warning/symbols.py with the vendored milsymbol.js into
// accord/warning/symbols.json, for the after-action report (which draws them
// without a script). Run with Node.js from the repository root: node tools/render_symbols.js
// tests/console/test_console_symbols.py checks the file against milsymbol.js in Chromium.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
const ms = require(path.join(root, "accord/console/static/vendor/milsymbol.js"));
const py = fs.readFileSync(path.join(root, "accord/warning/symbols.py"), "utf8");
const size = Number(/^SYMBOL_SIZE = (\d+)/m.exec(py)[1]);
const sidcs = [...py.matchAll(/^[A-Z_]+ = "(\d{20})"/gm)].map((m) => m[1]);
const symbols = {};
for (const sidc of sidcs) {
  const s = new ms.Symbol(sidc, {size: size});
  if (!s.isValid()) { throw new Error("milsymbol: invalid SIDC " + sidc); }
  const a = s.getAnchor(), z = s.getSize();
  symbols[sidc] = {svg: s.asSVG(), anchor: [a.x, a.y], size: [z.width, z.height]};
}
const out = {generator: "milsymbol " + ms.version + " (tools/render_symbols.js)", size: size, symbols: symbols};
fs.writeFileSync(path.join(root, "accord/warning/symbols.json"), JSON.stringify(out, null, 1) + "\n");
console.log("wrote " + Object.keys(symbols).length + " symbols");
