// The status page's script: times in the viewer's time zone, and the
// page kept current from the event stream (/events): each event is added
// to the list and the main part is fetched again, so that a reload is
// never needed. Without the script the page is complete, in UTC.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = t.getAttribute("datetime");
        t.textContent = d.toLocaleString();
      }
    });
  }
  localTimes(document);
  var main = document.getElementById("main");
  var events = document.getElementById("events");
  var live = document.getElementById("live");
  if (!main || !events || !window.EventSource) {
    return;
  }
  var pending = null;
  function refresh() {
    pending = null;
    fetch("/?part=main", { cache: "no-store" }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(r.status);
    }).then(function (html) {
      main.innerHTML = html;
      localTimes(main);
    }).catch(function () {});
  }
  function soon() {
    if (!pending) {
      pending = setTimeout(refresh, 250);
    }
  }
  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }
  function add(e) {
    if (events.querySelector('tr[data-id="' + e.id + '"]')) {
      return;
    }
    var tr = document.createElement("tr");
    tr.dataset.id = e.id;
    tr.className = (e.type || "").toLowerCase();
    var when = document.createElement("td");
    var t = document.createElement("time");
    t.setAttribute("datetime", e.time);
    when.appendChild(t);
    tr.appendChild(when);
    tr.appendChild(cell(e.kind + "/" + e.name));
    tr.appendChild(cell(e.reason));
    tr.appendChild(cell(e.message));
    localTimes(tr);
    events.insertBefore(tr, events.firstChild);
    while (events.children.length > 200) {
      events.removeChild(events.lastChild);
    }
  }
  var newest = events.querySelector("tr[data-id]");
  var url = "/events?unnamed=1" + (newest ? "&since=" + newest.dataset.id : "");
  var source = new EventSource(url);
  source.onopen = function () { live.textContent = "live"; live.className = "live on"; soon(); };
  source.onerror = function () { live.textContent = "reconnecting…"; live.className = "live"; };
  source.onmessage = function (m) {
    try { add(JSON.parse(m.data)); } catch (err) { return; }
    soon();
  };
  // Phases that change without an event (a countdown) are read again now and then.
  setInterval(soon, 10000);
})();
