// Gallery: drag-and-drop and file-picker uploads with per-file progress, one request per
// file so each has its own bar and its own error. Placeholders take the dominant colour.
(function () {
  "use strict";
  function cookie(name) {
    var match = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
  }
  document.querySelectorAll("[data-placeholder]").forEach(function (img) {
    img.style.backgroundColor = img.getAttribute("data-placeholder");
  });
  var zone = document.querySelector("[data-dropzone]");
  if (!zone) return;
  var input = document.querySelector("[data-upload-input]");
  var list = document.querySelector("[data-upload-list]");
  var clientId = zone.getAttribute("data-client");
  var pending = 0;

  function upload(file) {
    var row = document.createElement("li");
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
    var form = new FormData();
    form.append("file", file, file.name);
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
      if (xhr.status === 201) {
        bar.value = 100;
        status.textContent = body && body[0] && body[0].duplicate ? "already uploaded" : "uploaded";
        row.classList.add("done");
      } else {
        status.textContent = (body && body.detail) || ("failed (" + xhr.status + ")");
        row.classList.add("failed");
        window.studioflow.toast(file.name + ": " + status.textContent, "error");
      }
      finish();
    });
    xhr.addEventListener("error", function () {
      status.textContent = "network error"; row.classList.add("failed"); finish();
    });
    status.textContent = "0%";
    xhr.send(form);
  }
  function finish() {
    pending -= 1;
    if (pending === 0 && list.querySelector(".done")) {
      sessionStorage.setItem("studioflow.toast", "Upload finished.");
      setTimeout(function () { window.location.reload(); }, 400);
    }
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
