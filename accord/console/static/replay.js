/* Accord console: the live picture's time control (/console/picture?ago=SECONDS).
 * Own code, Apache-2.0, no dependencies; a static file (the CSP allows no inline script).
 * Without it the form still works: "Show" reloads the page as it was then. With it, moving the
 * slider (mouse or arrow keys) redraws the picture in place from /console/picture.svg?ago=S,
 * and "Replay" steps from 30 minutes ago to now. */
(function () {
  "use strict";
  var STEP = 60, FRAME_MS = 500;

  function init() {
    var range = document.getElementById("ago"), box = document.getElementById("picture-box");
    var out = document.getElementById("ago-out"), play = document.getElementById("replay-play");
    if (!range || !box || !out || !play) { return; }
    var due = null, timer = null, asked = 0;

    function label(ago) {
      if (!ago) { return out.dataset.live; }
      var s = ago % 60;
      return Math.floor(ago / 60) + ":" + (s < 10 ? "0" : "") + s + " " + out.dataset.ago;
    }

    function draw() {
      var ago = parseInt(range.value, 10) || 0, n = ++asked;
      var src = "/console/picture.svg" + (ago ? "?ago=" + ago : "");
      box.dataset.src = src;  /* console.js's live redraws keep to the chosen time */
      out.textContent = label(ago);
      fetch(src, {credentials: "same-origin"}).then(function (r) {
        return r.ok ? r.text() : Promise.reject(new Error("picture " + r.status));
      }).then(function (text) {
        if (n !== asked) { return; }  /* a later frame was asked for: drop this one */
        var svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
        if (svg.nodeName !== "svg") { return; }
        box.replaceChildren(document.importNode(svg, true));
        if (window.AccordSymbols) { window.AccordSymbols.draw(box); }
        box.dataset.ago = String(ago);
        window.history.replaceState(null, "", "/console/picture" + (ago ? "?ago=" + ago : ""));
      }).catch(function () { /* the next move tries again */ });
    }

    function stop() {
      window.clearInterval(timer); timer = null;
      play.setAttribute("aria-pressed", "false");
    }

    range.addEventListener("input", function () {
      if (due) { window.clearTimeout(due); }
      due = window.setTimeout(draw, 150);
    });
    play.addEventListener("click", function () {
      if (timer) { stop(); return; }
      range.value = range.max; draw();
      play.setAttribute("aria-pressed", "true");
      timer = window.setInterval(function () {
        var ago = Math.max(0, (parseInt(range.value, 10) || 0) - STEP);
        range.value = String(ago); draw();
        if (ago === 0) { stop(); }
      }, FRAME_MS);
    });
    play.setAttribute("aria-pressed", "false");
    play.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", init);
}());
