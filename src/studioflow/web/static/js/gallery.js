// Gallery: select tiles (their checkboxes) and act on all of them at once through the JSON
// API: visibility and delete one request per image, with the outcome counted; albums (add,
// remove) one request for all;
// tiles of the next page (loaded as the sentinel scrolls into view) get their placeholder
// colour too. No inline script (CSP).
(function () {
  "use strict";
  var grid = document.querySelector("[data-gallery]");
  var bar = document.querySelector("[data-bulk]");
  document.body.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("img[data-placeholder]").forEach(function (img) {
      if (!img.style.backgroundColor) img.style.backgroundColor = img.getAttribute("data-placeholder");
    });
  });
  if (!grid || !bar) return;
  var clientId = grid.getAttribute("data-client");
  var count = bar.querySelector("[data-bulk-count]");

  function chosen() { return Array.prototype.slice.call(grid.querySelectorAll("input[data-select]:checked")); }
  function refresh() {
    var n = chosen().length;
    bar.hidden = n === 0;
    count.textContent = n + (n === 1 ? " image selected" : " images selected");
    grid.classList.toggle("selecting", n > 0);
  }
  grid.addEventListener("change", function (event) {
    if (event.target.matches("input[data-select]")) {
      event.target.closest("li").classList.toggle("selected", event.target.checked);
      refresh();
    }
  });

  async function each(boxes, method, body) {
    var ok = 0, failed = 0;
    for (var i = 0; i < boxes.length; i++) {
      var id = boxes[i].value;
      var result = await window.studioflow.api(method, "/api/v1/images/" + id, body, clientId);
      if (result.ok) ok += 1; else failed += 1;
    }
    return { ok: ok, failed: failed };
  }
  function cookie(name) {
    var match = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
  }
  // The originals as one ZIP (streamed by the server), saved under images.zip.
  async function download(boxes, button) {
    button.disabled = true;
    var label = button.textContent; button.textContent = "Preparing…";
    try {
      var response = await fetch("/api/v1/images/archive", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Client-Id": clientId,
          "X-CSRF-Token": cookie("__Host-csrf_token") || cookie("csrf_token") || "" },
        body: JSON.stringify({ image_ids: boxes.map(function (b) { return b.value; }) })
      });
      if (!response.ok) { window.studioflow.toast("The ZIP could not be made (" + response.status + ").", "error"); return; }
      var url = URL.createObjectURL(await response.blob());
      var a = document.createElement("a");
      a.href = url; a.download = "images.zip"; document.body.append(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      window.studioflow.toast(boxes.length + (boxes.length === 1 ? " image" : " images") + " in images.zip.", "success");
    } finally {
      button.disabled = false; button.textContent = label;
    }
  }

  function report(verb, outcome) {
    var text = outcome.ok + (outcome.ok === 1 ? " image " : " images ") + verb;
    if (outcome.failed) text += "; " + outcome.failed + " could not be changed";
    sessionStorage.setItem("studioflow.toast", text + ".");
    window.location.reload();  // the page as the server now has it
  }

  bar.addEventListener("click", async function (event) {
    var button = event.target.closest("[data-bulk-action]");
    if (!button) return;
    var action = button.getAttribute("data-bulk-action");
    var boxes = chosen();
    if (action === "clear") {
      boxes.forEach(function (box) { box.checked = false; box.closest("li").classList.remove("selected"); });
      refresh();
      return;
    }
    if (!boxes.length) return;
    if (action === "zip") { await download(boxes, button); return; }
    if (action === "unalbum") { await album("/api/v1/albums/" + button.getAttribute("data-album") + "/images/remove", boxes, "taken out of"); return; }
    if (action === "delete") {
      var sure = await window.studioflow.confirm("Delete " + boxes.length + (boxes.length === 1 ? " image" : " images") + " and every copy of them?", "Delete");
      if (!sure) return;
      report("deleted", await each(boxes, "DELETE"));
      return;
    }
    report(action === "public" ? "made public" : "made private", await each(boxes, "PATCH", { is_public: action === "public" }));
  });
  // Albums take many images in one request (all or none); an image keeps its other albums.
  async function album(path, boxes, verb) {
    var result = await window.studioflow.api("POST", path, { image_ids: boxes.map(function (b) { return b.value; }) }, clientId);
    if (!result.ok) {
      window.studioflow.toast((result.data && result.data.detail) || ("The album could not be changed (" + result.status + ")."), "error");
      return;
    }
    var n = boxes.length;
    sessionStorage.setItem("studioflow.toast", n + (n === 1 ? " image " : " images ") + verb + " “" + result.data.album.title + "” (" + result.data.album.images + " in it now).");
    window.location.reload();
  }
  var albumPicker = bar.querySelector("[data-bulk-album]");
  if (albumPicker) albumPicker.addEventListener("change", async function (event) {
    var value = event.target.value;
    var boxes = chosen();
    if (!value || !boxes.length) return;
    await album("/api/v1/albums/" + value + "/images", boxes, "added to");
  });
})();
