// Live stock on the shop's pages: one EventSource for the products on the page; each
// product.changed message rewrites that product's stock (and sold-out state). The
// browser reconnects by itself; a page that missed a message shows the truth on reload.
(function () {
  "use strict";
  var cells = document.querySelectorAll("[data-stock]");
  if (!cells.length || !window.EventSource) return;
  var ids = Array.from(new Set(Array.prototype.map.call(cells, function (c) { return c.getAttribute("data-stock"); })));
  var source = new EventSource("/api/v1/products/events?ids=" + encodeURIComponent(ids.join(",")));
  source.addEventListener("product.changed", function (event) {
    var product = JSON.parse(event.data);
    document.querySelectorAll("[data-stock='" + product.id + "']").forEach(function (cell) {
      cell.textContent = String(product.stock);
      var line = cell.closest("[data-stock-line]");
      if (line) line.setAttribute("data-live", "updated");
    });
    (product.variants || []).forEach(function (variant) {
      var option = document.querySelector("input[name=variant_id][value='" + variant.id + "']");
      if (option) option.disabled = variant.stock === 0;
    });
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
