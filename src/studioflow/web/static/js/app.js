// Studioflow page behaviour: navigation toggle and toasts. No inline script (CSP).
(function () {
  "use strict";

  function showToast(message, kind) {
    var region = document.querySelector("[data-toasts]");
    if (!region || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (kind || "info");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    toast.append(text, close);
    region.append(toast);
    setTimeout(function () { toast.remove(); }, kind === "error" ? 10000 : 5000);
  }
  window.studioflow = { toast: showToast };

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var nav = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
      if (open) { var first = nav.querySelector("a"); if (first) first.focus(); }
      return;
    }
    var trigger = event.target.closest("[data-show-toast]");
    if (trigger) showToast(trigger.getAttribute("data-show-toast"), trigger.getAttribute("data-toast-kind"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var toggle = document.querySelector("[data-nav-toggle][aria-expanded='true']");
    if (toggle) { toggle.click(); toggle.focus(); }
  });

  // Server answers raise toasts with: HX-Trigger: {"toast": {"message": "...", "kind": "success"}}
  document.body.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.kind);
  });
  // A failed HTMX request should never fail silently.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr, message = "The request failed (" + xhr.status + ").";
    try { var body = JSON.parse(xhr.responseText); if (body.detail) message = body.detail; } catch (e) { /* not JSON */ }
    showToast(message, "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    showToast("Could not reach the server. Check your connection.", "error");
  });
})();
