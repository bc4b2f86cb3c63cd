// Draws a BPMN diagram with the vendored bpmn-js viewer and marks steps on it.
// <div class="pf-diagram" data-bpmn-url="..." data-completed="a b" data-current="c" [data-failed]
//      [data-added="x"] [data-changed="y"]><div class="pf-canvas"></div>...</div>
// Used by the monitor's instance page and the designer's version and review pages.
(function () {
  "use strict";

  function ids(el, name) {
    return (el.getAttribute(name) || "").split(/\s+/).filter(Boolean);
  }

  function asSet(list) {
    var set = {};
    list.forEach(function (id) { set[id] = true; });
    return set;
  }

  function fail(el) {
    var message = el.querySelector(".pf-diagram-message");
    if (message) { message.hidden = false; }
    var canvas = el.querySelector(".pf-canvas");
    if (canvas) { canvas.hidden = true; }
    var zoom = el.querySelector(".pf-zoom");
    if (zoom) { zoom.hidden = true; }
  }

  function mark(viewer, el) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var done = asSet(ids(el, "data-completed"));
    var current = asSet(ids(el, "data-current"));
    var currentClass = el.hasAttribute("data-failed") ? "pf-failed" : "pf-current";
    function add(id, marker) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    }
    Object.keys(done).forEach(function (id) { if (!current[id]) { add(id, "pf-done"); } });
    Object.keys(current).forEach(function (id) { add(id, currentClass); });
    ids(el, "data-added").forEach(function (id) { add(id, "pf-added"); });
    ids(el, "data-changed").forEach(function (id) { add(id, "pf-changed"); });
    // A flow is marked as taken when both of its ends were reached.
    registry.filter(function (e) { return e.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
      var bo = flow.businessObject;
      var source = bo.sourceRef && bo.sourceRef.id;
      var target = bo.targetRef && bo.targetRef.id;
      if (done[source] && (done[target] || current[target])) { canvas.addMarker(flow.id, "pf-done"); }
    });
  }

  function show(el) {
    var container = el.querySelector(".pf-canvas");
    if (!container || typeof window.BpmnJS !== "function") { fail(el); return; }
    var viewer = new window.BpmnJS({ container: container });
    fetch(el.getAttribute("data-bpmn-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        viewer.get("canvas").zoom("fit-viewport", "auto");
        mark(viewer, el);
        el.classList.add("pf-ready");
      })
      .catch(function () { fail(el); });
    el.addEventListener("click", function (event) {
      var button = event.target.closest("[data-zoom]");
      if (!button) { return; }
      var canvas = viewer.get("canvas");
      var how = button.getAttribute("data-zoom");
      if (how === "fit") { canvas.zoom("fit-viewport", "auto"); }
      else { canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8)); }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".pf-diagram[data-bpmn-url]"), show);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
