// The image viewer: a full-window <dialog> over the page, opened from the links of a
// [data-view-set] (a gallery, a result grid). Arrow keys and a swipe go to the neighbours,
// Z or the button zooms to the real pixels, Info shows the facts (and, for the owner's
// uploads, what the camera wrote, from the private original). A click with a modifier key
// still opens the link as a link. No inline script (CSP).
(function () {
  "use strict";
  var dialog = document.querySelector("[data-viewer]");
  if (!dialog) return;
  var image = dialog.querySelector("[data-viewer-image]");
  var stage = dialog.querySelector("[data-viewer-stage]");
  var panel = dialog.querySelector("[data-viewer-panel]");
  var facts = dialog.querySelector("[data-viewer-facts]");
  var prompt = dialog.querySelector("[data-viewer-prompt]");
  var links = [], index = 0, zoomed = false, cameraSeen = {};

  function q(sel) { return dialog.querySelector(sel); }
  function kib(bytes) { return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB"; }
  function row(term, value) {
    if (!value) return;
    var dt = document.createElement("dt"); dt.textContent = term;
    var dd = document.createElement("dd"); dd.textContent = value;
    facts.append(dt, dd);
  }
  var CAMERA = [["make", "Camera make"], ["model", "Camera"], ["lens", "Lens"], ["exposure", "Exposure"],
    ["aperture", "Aperture"], ["iso", "ISO"], ["focal_length", "Focal length"], ["taken_at", "Taken"]];

  async function camera(link) {
    var id = link.getAttribute("data-view-id");
    if (!id || !window.studioflow || !window.studioflow.api) return;
    if (!(id in cameraSeen)) {
      var answer = await window.studioflow.api("GET", "/api/v1/images/" + id + "/camera", undefined, link.getAttribute("data-view-client"));
      cameraSeen[id] = answer.ok ? answer.data : {};
    }
    if (links[index] !== link) return;  // moved on meanwhile
    CAMERA.forEach(function (pair) { row(pair[1], cameraSeen[id][pair[0]]); });
  }

  function describe(link) {
    facts.textContent = "";
    var m = JSON.parse(link.getAttribute("data-view-meta") || "{}");
    if (m.width) row("Dimensions", m.width + " × " + m.height + " px");
    row("Format", m.format ? m.format.toUpperCase() + (m.frames > 1 ? ", " + m.frames + " frames" : "") : "");
    if (m.bytes) row("File size", kib(m.bytes));
    row("Uploaded", m.created);
    row("Visibility", m.visibility);
    var text = link.getAttribute("data-view-prompt");
    prompt.hidden = !text; prompt.textContent = text ? "Prompt: " + text : "";
    if (!panel.hidden) camera(link);
  }

  function setZoom(on) {
    zoomed = on;
    stage.classList.toggle("zoomed", on);
    q("[data-viewer-zoom]").setAttribute("aria-pressed", String(on));
  }

  function show(i) {
    index = (i + links.length) % links.length;
    var link = links[index];
    setZoom(false);
    image.src = link.getAttribute("data-view-src");
    image.alt = link.getAttribute("data-view-title") || "";
    q("[data-viewer-title]").textContent = link.getAttribute("data-view-title") || "";
    q("[data-viewer-count]").textContent = (index + 1) + " of " + links.length;
    q("[data-viewer-download]").href = link.getAttribute("data-view-download") || link.getAttribute("data-view-src");
    var page = q("[data-viewer-page]");
    page.href = link.getAttribute("href"); page.hidden = !link.getAttribute("data-view-page");
    q("[data-viewer-prev]").disabled = links.length < 2;
    q("[data-viewer-next]").disabled = links.length < 2;
    describe(link);
  }

  function open(link) {
    var set = link.closest("[data-view-set]");
    links = Array.prototype.slice.call(set.querySelectorAll("a[data-view]"));
    dialog.showModal();
    show(links.indexOf(link));
    q("[data-viewer-close]").focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-view]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    open(link);
  });
  q("[data-viewer-prev]").addEventListener("click", function () { show(index - 1); });
  q("[data-viewer-next]").addEventListener("click", function () { show(index + 1); });
  q("[data-viewer-close]").addEventListener("click", function () { dialog.close(); });
  q("[data-viewer-zoom]").addEventListener("click", function () { setZoom(!zoomed); });
  image.addEventListener("click", function () { setZoom(!zoomed); });
  q("[data-viewer-info]").addEventListener("click", function (event) {
    panel.hidden = !panel.hidden;
    event.currentTarget.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) describe(links[index]);
  });
  q("[data-viewer-copy]").addEventListener("click", async function () {
    var url = new URL(links[index].getAttribute("data-view-src"), window.location.href).href;
    try { await navigator.clipboard.writeText(url); window.studioflow.toast("Link copied.", "success"); }
    catch (e) { window.studioflow.toast(url, "info"); }
  });
  dialog.addEventListener("keydown", function (event) {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); show(index - 1); }
    else if (event.key === "ArrowRight") { event.preventDefault(); show(index + 1); }
    else if (event.key === "z" || event.key === "Z" || event.key === "+") { setZoom(!zoomed); }
  });
  // A horizontal swipe (touch or pen) goes to the neighbour; a zoomed image pans instead.
  var startX = null;
  stage.addEventListener("pointerdown", function (event) { startX = zoomed ? null : event.clientX; });
  stage.addEventListener("pointerup", function (event) {
    if (startX === null) return;
    var dx = event.clientX - startX; startX = null;
    if (Math.abs(dx) > 50) show(dx < 0 ? index + 1 : index - 1);
  });
  dialog.addEventListener("close", function () {
    var link = links[index];
    image.removeAttribute("src");
    if (link) link.focus();  // back where the user was
  });
})();
