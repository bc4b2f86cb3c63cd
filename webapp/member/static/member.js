// The member pages' small enhancements; everything works without JavaScript.
(function () {
  "use strict";

  // Live filter of the catalogue: hides standards that do not match every typed term and the
  // contents, items and dimensions left empty; the server-side ?q= search does the same without JS.
  var input = document.querySelector("input[data-filter]");
  var tree = input ? document.querySelector(input.getAttribute("data-filter")) : null;
  if (input && tree) {
    var counter = document.querySelector(input.getAttribute("data-count"));
    var template = counter ? counter.getAttribute("data-template") : "";
    var standards = tree ? Array.prototype.slice.call(tree.querySelectorAll("[data-search]")) : [];
    var dims = tree ? Array.prototype.slice.call(tree.querySelectorAll("details.cat-dim")) : [];
    var wasOpen = dims.map(function (d) { return d.open; });
    var timer = null;
    var apply = function () {
      var terms = input.value.toLowerCase().replace(/\u3000/g, " ").split(/\s+/).filter(Boolean);
      var shown = 0;
      standards.forEach(function (li) {
        var text = li.getAttribute("data-search");
        var match = terms.every(function (t) { return text.indexOf(t) !== -1; });
        li.hidden = !match;
        if (match) { shown += 1; }
      });
      Array.prototype.forEach.call(tree.querySelectorAll(".cat-content, .cat-item, .cat-dim"), function (node) {
        node.hidden = !node.querySelector("[data-search]:not([hidden])");
      });
      dims.forEach(function (d, i) { d.open = terms.length ? !d.hidden : wasOpen[i]; });
      if (counter && template) { counter.textContent = template.replace("{n}", String(shown)); }
    };
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(apply, 120);
    });
  }

  // What a claim will do to the score, as the occurrences change.
  var form = document.querySelector("form[data-points]");
  if (form && form.getAttribute("data-points")) {
    var points = parseFloat(form.getAttribute("data-points"));
    var deduction = form.getAttribute("data-kind") === "deduction";
    var occurrences = form.querySelector("input[name=occurrences]");
    var effect = document.getElementById("claim-effect");
    var show = function () {
      var n = parseInt(occurrences.value, 10);
      if (!effect || isNaN(n) || n < 1) { if (effect) { effect.textContent = ""; } return; }
      var total = Math.round(points * n * 100) / 100;
      effect.textContent = (deduction ? "−" : "+") + total + (document.documentElement.lang === "en" ? " points" : " 分");
    };
    if (occurrences) { occurrences.addEventListener("input", show); show(); }
  }

  // Print buttons (hidden without JavaScript: the browser's own print works anyway).
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
