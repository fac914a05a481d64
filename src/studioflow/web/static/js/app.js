// Studioflow page behaviour: the shell's sidebar, drawer and menus, the confirm dialog, toasts. No inline script (CSP).
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
  // The product's confirm dialog: resolves true when the user confirms. Focus goes to
  // Cancel (the safe answer) and comes back to what had it.
  function confirmAction(text, label) {
    var dialog = document.querySelector("[data-confirm-dialog]");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(text));
    dialog.querySelector("[data-confirm-text]").textContent = text;
    dialog.querySelector("[data-confirm-ok]").textContent = label || "Confirm";
    var before = document.activeElement;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        if (before && before.focus) before.focus();
        resolve(dialog.returnValue === "ok");
      });
      dialog.returnValue = "cancel";
      dialog.showModal();
      dialog.querySelector("[data-confirm-cancel]").focus();
    });
  }
  window.studioflow = Object.assign(window.studioflow || {}, { toast: showToast, confirm: confirmAction });

  var PHONE = window.matchMedia("(max-width: 48rem)");
  var COLLAPSED_KEY = "studioflow.sidebar-collapsed";

  function shell() { return document.querySelector("[data-shell]"); }
  function sidebarToggle() { return document.querySelector("[data-sidebar-toggle]"); }

  // The toggle's aria-expanded tells whether the sidebar shows: on phones a drawer that
  // starts closed, on wide screens a column the user may collapse (remembered).
  function syncSidebar() {
    var s = shell(), toggle = sidebarToggle();
    if (!s || !toggle) return;
    var shown = PHONE.matches ? s.classList.contains("drawer-open") : !s.classList.contains("sidebar-collapsed");
    toggle.setAttribute("aria-expanded", String(shown));
    var backdrop = s.querySelector("[data-drawer-close]");
    if (backdrop) backdrop.hidden = !(PHONE.matches && shown);
  }
  function setDrawer(open) {
    var s = shell();
    s.classList.toggle("drawer-open", open);
    syncSidebar();
    if (open) { var current = s.querySelector(".side-nav a[aria-current]") || s.querySelector(".side-nav a"); if (current) current.focus(); }
    else sidebarToggle().focus();
  }
  function closeMenus(except) {
    document.querySelectorAll("[data-menu-button][aria-expanded='true']").forEach(function (b) {
      if (b === except) return;
      b.setAttribute("aria-expanded", "false");
      document.getElementById(b.getAttribute("aria-controls")).hidden = true;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var s = shell();
    if (!s) return;
    if (localStorage.getItem(COLLAPSED_KEY) === "1") s.classList.add("sidebar-collapsed");
    syncSidebar();
    PHONE.addEventListener("change", function () { s.classList.remove("drawer-open"); syncSidebar(); });
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-sidebar-toggle]")) {
      var s = shell();
      if (PHONE.matches) { setDrawer(!s.classList.contains("drawer-open")); return; }
      var collapsed = s.classList.toggle("sidebar-collapsed");
      localStorage.setItem(COLLAPSED_KEY, collapsed ? "1" : "0");
      syncSidebar();
      return;
    }
    if (event.target.closest("[data-drawer-close]")) { setDrawer(false); return; }
    var button = event.target.closest("[data-menu-button]");
    if (button) {
      var list = document.getElementById(button.getAttribute("aria-controls"));
      var open = button.getAttribute("aria-expanded") !== "true";
      closeMenus(button);
      button.setAttribute("aria-expanded", String(open));
      list.hidden = !open;
      if (open) { var first = list.querySelector("a, button"); if (first) first.focus(); }
      return;
    }
    if (!event.target.closest("[data-menu]")) closeMenus(null);
    var trigger = event.target.closest("[data-show-toast]");
    if (trigger) showToast(trigger.getAttribute("data-show-toast"), trigger.getAttribute("data-toast-kind"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var openMenu = document.querySelector("[data-menu-button][aria-expanded='true']");
    if (openMenu) { closeMenus(null); openMenu.focus(); return; }
    var s = shell();
    if (s && PHONE.matches && s.classList.contains("drawer-open")) setDrawer(false);
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
