// Gallery: drag-and-drop and file-picker uploads with per-file progress, one request per
// file so each has its own bar and its own error. Large files (data-direct-from bytes and up)
// go as direct uploads: the bytes are PUT to the URL the server signs (S3 itself at scale),
// then completed, so they never sit in an app process's request body. New images are put at the top of the
// gallery as they arrive (no reload: focus and failures stay where they are); a failed file
// stays listed with its reason until dismissed. Placeholders take the dominant colour.
(function () {
  "use strict";
  function cookie(name) {
    var match = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
  }
  function paint(img) { img.style.backgroundColor = img.getAttribute("data-placeholder"); }
  document.querySelectorAll("[data-placeholder]").forEach(paint);
  var zone = document.querySelector("[data-dropzone]");
  if (!zone) return;
  var input = document.querySelector("[data-upload-input]");
  var list = document.querySelector("[data-upload-list]");
  var clientId = zone.getAttribute("data-client");
  var pending = 0, succeeded = 0, failed = 0;

  function gallery() {
    var grid = document.querySelector("[data-gallery]");
    if (grid) return grid;
    grid = document.createElement("ul");
    grid.className = "gallery";
    grid.setAttribute("data-gallery", "");
    grid.setAttribute("data-view-set", "");
    var empty = document.querySelector("[data-gallery-empty]");
    if (empty) empty.replaceWith(grid);
    return grid;
  }

  function addTile(image) {
    if (document.querySelector("[data-gallery] a[href='/images/" + image.id + "']")) return;  // a duplicate
    // Paths on this site (the API's links are absolute, on BASE_URL).
    function here(url) { var u = new URL(url, window.location.href); return u.pathname + u.search; }
    var thumb = here(image.is_public ? image.thumbnail_url : image.signed_url + "&size=thumb");
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.className = "tile"; link.href = "/images/" + image.id;
    // Opens in the viewer like the tiles the page came with.
    var large = here(image.is_public ? image.url + "?size=large" : image.signed_url + "&size=large");
    link.setAttribute("data-view", ""); link.setAttribute("data-view-page", "1");
    link.setAttribute("data-view-id", image.id); link.setAttribute("data-view-client", clientId || "");
    link.setAttribute("data-view-src", large);
    link.setAttribute("data-view-title", image.title || image.filename);
    link.setAttribute("data-view-meta", JSON.stringify({ width: image.width, height: image.height, format: image.format,
      frames: image.frames, bytes: image.bytes, created: image.created_at.slice(0, 16).replace("T", " ") + " UTC",
      visibility: image.is_public ? "public" : "private" }));
    var img = document.createElement("img");
    img.src = thumb; img.alt = image.title || image.filename; img.loading = "lazy"; img.decoding = "async";
    img.width = image.width; img.height = image.height;
    img.setAttribute("data-placeholder", image.dominant_color); paint(img);
    var caption = document.createElement("span");
    caption.className = "tile-caption"; caption.textContent = image.title || image.filename;
    if (!image.is_public) { var badge = document.createElement("span"); badge.className = "badge"; badge.textContent = "private"; caption.append(" ", badge); }
    link.append(img, caption); li.append(link);
    gallery().prepend(li);
  }

  function dismissButton(row) {
    var button = document.createElement("button");
    button.type = "button"; button.className = "btn btn-ghost";
    button.textContent = "Dismiss";
    button.setAttribute("aria-label", "Dismiss " + row.getAttribute("data-name"));
    button.addEventListener("click", function () {
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      // Focus stays in the list (or goes back to the file button) instead of the page top.
      var target = next && next.querySelector("button") ? next.querySelector("button") : input;
      target.focus();
    });
    return button;
  }

  function upload(file) {
    var row = document.createElement("li");
    row.setAttribute("data-name", file.name);
    var name = document.createElement("span");
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.className = "progress";
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Uploading " + file.name);
    var status = document.createElement("span");
    status.className = "muted";
    status.textContent = "waiting";
    row.append(name, bar, status);
    list.append(row);
    pending += 1;
    var directFrom = Number(zone.getAttribute("data-direct-from") || 8 * 1024 * 1024);
    if (file.size >= directFrom) { direct(file, row, bar, status); return; }
    var form = new FormData();
    form.append("file", file, file.name);
    // Uploads made while an album is shown go into that album.
    if (zone.getAttribute("data-album")) form.append("album_id", zone.getAttribute("data-album"));
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/images");
    var token = cookie("__Host-csrf_token") || cookie("csrf_token");
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
    if (clientId) xhr.setRequestHeader("X-Client-Id", clientId);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(e.loaded / e.total * 100); status.textContent = bar.value + "%"; }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 201 && body && body[0]) {
        done(row, bar, status, body[0]);
      } else {
        fail(row, status, (body && body.detail) || ("failed (" + xhr.status + ")"));
      }
      finish();
    });
    xhr.addEventListener("error", function () { fail(row, status, "network error: not uploaded"); finish(); });
    status.textContent = "0%";
    xhr.send(form);
  }
  function done(row, bar, status, image) {
    bar.value = 100;
    status.textContent = image.duplicate ? "already uploaded" : "uploaded";
    row.classList.add("done");
    addTile(image);
    succeeded += 1;
  }
  async function direct(file, row, bar, status) {
    var album = zone.getAttribute("data-album");
    var ask = { filename: file.name, content_type: file.type || "application/octet-stream", bytes: file.size };
    if (album) ask.album_id = album;
    var started = await window.studioflow.api("POST", "/api/v1/uploads", ask, clientId);
    if (!started.ok) { fail(row, status, (started.data && started.data.detail) || "refused"); finish(); return; }
    var target = started.data;
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", target.upload_url);
    // The browser sets Content-Length from the body itself (the signature covers it).
    Object.keys(target.headers).forEach(function (name) {
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, target.headers[name]);
    });
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(e.loaded / e.total * 95); status.textContent = bar.value + "%"; }
    });
    xhr.addEventListener("load", async function () {
      if (xhr.status !== 200 && xhr.status !== 201) { fail(row, status, "the store refused the file (" + xhr.status + ")"); finish(); return; }
      status.textContent = "checking";
      var completed = await window.studioflow.api("POST", "/api/v1/uploads/" + target.upload_id + "/complete", undefined, clientId);
      if (completed.ok) done(row, bar, status, completed.data);
      else fail(row, status, (completed.data && completed.data.detail) || "refused");
      finish();
    });
    xhr.addEventListener("error", function () { fail(row, status, "network error: not uploaded"); finish(); });
    status.textContent = "0%";
    xhr.send(file);
  }
  function fail(row, status, reason) {
    status.textContent = reason;
    row.classList.add("failed");
    row.append(dismissButton(row));
    failed += 1;
  }
  function finish() {
    pending -= 1;
    if (pending !== 0) return;
    var message = succeeded ? "Upload finished: " + succeeded + (succeeded === 1 ? " image" : " images") : "Nothing was uploaded";
    if (failed) message += ", " + failed + " failed (listed with the reason)";
    window.studioflow.toast(message + ".", failed ? "error" : "success");
    // The finished rows go; the failed ones stay until dismissed.
    list.querySelectorAll("li.done").forEach(function (row) { row.remove(); });
    succeeded = 0; failed = 0;
  }
  function take(files) { Array.prototype.forEach.call(files, upload); }
  input.addEventListener("change", function () { take(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (e) { take(e.dataTransfer.files); });
})();
