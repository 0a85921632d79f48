/* Accord console: live updates over Server-Sent Events (GET /console/events).
 * Own code, Apache-2.0, no dependencies. Loaded as a static file: the console's
 * Content-Security-Policy allows no inline script. Builds DOM with textContent only. */
(function () {
  "use strict";
  var LEVELS = ["u", "r", "c", "s", "ts"];
  var NAMES = {u: "UNCLASSIFIED", r: "RESTRICTED", c: "CONFIDENTIAL", s: "SECRET", ts: "TOP SECRET"};
  var TLP = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"];

  function list(s) { return s ? s.split(",") : []; }

  /* the page banner covers every marking on screen: highest level, all caveats, the parties
   * every item is releasable to, the most restrictive TLP (accord/console/view.py, same rules) */
  function raiseBanners(m) {
    document.querySelectorAll("[data-banner]").forEach(function (b) {
      var count = parseInt(b.dataset.count || "0", 10);
      var level = LEVELS[Math.max(LEVELS.indexOf(b.dataset.level), LEVELS.indexOf(m.level))];
      var caveats = list(b.dataset.caveats);
      m.caveats.forEach(function (c) { if (caveats.indexOf(c) < 0) { caveats.push(c); } });
      var rel = count === 0 ? m.rel.slice() : list(b.dataset.rel).filter(function (p) { return m.rel.indexOf(p) >= 0; });
      var tlp = TLP[Math.max(TLP.indexOf(b.dataset.tlp), TLP.indexOf(m.tlp || ""))] || "";
      var text = [NAMES[level]].concat(caveats);
      if (rel.length) { text.push("REL TO " + rel.sort().join(", ")); }
      if (tlp) { text.push("TLP:" + tlp); }
      b.dataset.count = String(count + 1);
      b.dataset.level = level; b.dataset.rel = rel.join(","); b.dataset.tlp = tlp; b.dataset.caveats = caveats.join(",");
      b.className = "banner " + level;
      b.textContent = text.join("//");
    });
  }

  function cell(tr, child) { var td = document.createElement("td"); td.appendChild(child); tr.appendChild(td); }
  function text(s) { return document.createTextNode(s); }

  /* an alert of an incident on the board joins its incident's table, in issue order */
  function addAlert(d) {
    var sections = document.querySelectorAll("section[data-incident]");
    var section = null;
    sections.forEach(function (s) { if (s.dataset.incident === d.alert.incident) { section = s; } });
    var tb = section && section.querySelector("tbody[data-incident-rows]");
    if (!tb || tb.querySelector('tr[data-id="' + CSS.escape(d.id) + '"]')) { return false; }
    var tr = document.createElement("tr");
    tr.dataset.id = d.id;
    tr.className = "fresh cap-" + String(d.alert.msgType || "").toLowerCase();
    var mark = document.createElement("span");
    mark.className = "mark " + d.level; mark.textContent = d.marking;
    cell(tr, mark);
    var type = document.createElement("b");
    type.textContent = d.alert.msgType || "?";
    cell(tr, type);
    var time = document.createElement("time");
    time.dateTime = d.created; time.textContent = d.created.replace("T", " ").replace(/\.\d+Z$/, "Z");
    cell(tr, time);
    cell(tr, text(d.originator));
    cell(tr, text(d.alert.areas.join(", ")));
    var a = document.createElement("a");
    a.href = "/console/alerts/cap/" + encodeURI(d.id); a.textContent = tb.dataset.download;
    cell(tr, a);
    tb.appendChild(tr);
    if (d.alert.msgType === "Cancel") {
      section.classList.add("cancelled");
      section.querySelectorAll("time[data-until]").forEach(function (el) { el.removeAttribute("data-until"); });
    }
    return true;
  }

  /* a new signed version of a commitment on the dialogue board updates its row */
  function updateCommitment(d) {
    var row = document.querySelector('#commitments tr[data-id="' + CSS.escape(d.commitment.id || "") + '"]');
    if (!row) { return false; }
    var cell = row.querySelector('[data-f="status"]');
    if (cell) { cell.textContent = d.commitment.status; }
    var version = row.querySelector("[data-version]");
    if (version) { version.textContent = "v" + d.commitment.version; }
    row.classList.add("fresh");
    return true;
  }

  function addItem(d) {
    if (d.alert && addAlert(d)) { raiseBanners(d); return; }
    if (d.commitment && updateCommitment(d)) { raiseBanners(d); return; }
    var shown = false;
    document.querySelectorAll("tbody[data-live]").forEach(function (tb) {
      var want = tb.dataset.live;
      if (want !== "*" && want !== d.kind) { return; }
      if (tb.querySelector('tr[data-id="' + CSS.escape(d.id) + '"]')) { return; }
      var tr = document.createElement("tr");
      tr.dataset.id = d.id;
      tr.className = "fresh";
      var mark = document.createElement("span");
      mark.className = "mark " + d.level; mark.textContent = d.marking;
      cell(tr, mark);
      var time = document.createElement("time");
      time.dateTime = d.created; time.textContent = d.created.replace("T", " ").replace(/\.\d+Z$/, "Z");
      cell(tr, time);
      cell(tr, text(d.originator));
      cell(tr, text(d.kind));
      var a = document.createElement("a");
      a.href = "/console/items/" + encodeURI(d.id); a.textContent = d.summary || d.id;
      cell(tr, a);
      tb.insertBefore(tr, tb.firstChild);
      while (tb.rows.length > 200) { tb.deleteRow(tb.rows.length - 1); }
      shown = true;
    });
    if (shown) { raiseBanners(d); }
  }

  /* the picture's tracks table (live only, not while a past time is shown): a track's row
   * points at its latest item; a new track gets a row */
  function updateTrack(d) {
    var tb = document.querySelector('#tracks tbody[data-tracks="live"]');
    var box = document.getElementById("picture-box");
    if (!tb || (box && box.dataset.src.indexOf("ago=") >= 0)) { return; }
    var row = null;
    Array.prototype.forEach.call(tb.rows, function (r) {
      if (r.dataset.party === d.originator && r.dataset.track === d.track.track_id) { row = r; }
    });
    if (!row) {
      var empty = tb.querySelector("tr[data-empty]");
      if (empty) { empty.remove(); }
      row = document.createElement("tr");
      row.dataset.party = d.originator; row.dataset.track = d.track.track_id;
      var link = document.createElement("a");
      link.textContent = d.track.track_id;
      cell(row, link);
      cell(row, text(d.originator));
      cell(row, document.createElement("span"));
      tb.appendChild(row);
    }
    row.querySelector("a").href = "/console/items/" + encodeURI(d.id);
    var mark = row.cells[2].querySelector("span") || row.cells[2].appendChild(document.createElement("span"));
    mark.className = "mark " + d.level; mark.textContent = d.marking;
    row.dataset.id = d.id;
    row.classList.add("fresh");
  }

  function status(d) {
    var size = document.getElementById("ledger-size");
    if (size) { size.textContent = String(d.ledger); }
    d.partners.forEach(function (p) {
      var row = document.querySelector('#partners tr[data-party="' + CSS.escape(p.party) + '"]');
      if (!row) { return; }
      var q = row.querySelector('[data-f="queued"]'); if (q) { q.textContent = String(p.queued); }
      var c = row.querySelector('[data-f="last_contact"]'); if (c) { c.textContent = p.last_contact || "—"; }
    });
  }

  /* the live picture is drawn by the server: fetch the new SVG (at most once a second) and swap it in */
  var pictureDue = null;
  function refreshPicture(d) {
    var box = document.getElementById("picture-box");
    if (!box) { return; }
    raiseBanners(d);
    if (pictureDue) { return; }
    pictureDue = window.setTimeout(function () {
      pictureDue = null;
      fetch(box.dataset.src, {credentials: "same-origin"}).then(function (r) {
        return r.ok ? r.text() : Promise.reject(new Error("picture " + r.status));
      }).then(function (text) {
        var doc = new DOMParser().parseFromString(text, "image/svg+xml");
        var svg = doc.documentElement;
        if (svg.nodeName !== "svg") { return; }
        box.replaceChildren(document.importNode(svg, true));
        if (window.AccordSymbols) { window.AccordSymbols.draw(box); }
      }).catch(function () { /* the next event tries again */ });
    }, 1000);
  }

  function connect() {
    var url = document.body.dataset.events;
    if (!url || !window.EventSource) { return; }
    var live = document.getElementById("live");
    var es = new EventSource(url);  /* the browser resends Last-Event-ID when it reconnects */
    es.addEventListener("open", function () {
      if (live) { live.textContent = document.body.dataset.connected; live.className = "live on"; }
    });
    es.addEventListener("error", function () {
      if (live) { live.textContent = document.body.dataset.disconnected; live.className = "live off"; }
    });
    es.addEventListener("item", function (e) {
      var d = JSON.parse(e.data);
      addItem(d);
      if (d.track) { updateTrack(d); }
      if (d.kind.indexOf("warning.") === 0) { refreshPicture(d); }
    });
    es.addEventListener("status", function (e) { status(JSON.parse(e.data)); });
    /* the page missed more entries than a stream replays: its tables are stale, render it anew */
    es.addEventListener("reload", function () { es.close(); window.location.reload(); });
  }

  /* time since launch and to impact, ticking each second on the server's clock (data-now: the
   * server's time when it rendered the page, so an exercise's simulated clock is respected) */
  function clocks() {
    var rendered = Date.parse(document.body.dataset.now || "");
    if (isNaN(rendered)) { return; }
    var offset = rendered - Date.now();
    function fmt(ms) {
      var s = Math.trunc(ms / 1000), sign = s < 0 ? "-" : "";
      s = Math.abs(s);
      var m = Math.floor(s % 3600 / 60), ss = s % 60;
      return sign + Math.floor(s / 3600) + ":" + (m < 10 ? "0" : "") + m + ":" + (ss < 10 ? "0" : "") + ss;
    }
    function tick() {
      var now = Date.now() + offset;
      document.querySelectorAll("time[data-since]").forEach(function (el) { el.textContent = fmt(now - Date.parse(el.dataset.since)); });
      document.querySelectorAll("time[data-until]").forEach(function (el) { el.textContent = fmt(Date.parse(el.dataset.until) - now); });
    }
    if (document.querySelector("time[data-since], time[data-until]")) { window.setInterval(tick, 1000); }
  }

  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("DOMContentLoaded", clocks);
}());
