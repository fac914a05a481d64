// The API reference's "Try it" forms: fill the path and query parameters, edit the JSON body
// (or choose files), send, and read the answer (status, request id, body) in the page.
// Requests authenticate with the browser's session (CSRF header from its cookie) or, when one
// is typed at the top, with an API key, which lives in this page's memory only. No inline
// script (CSP); nothing third-party.
(function () {
  "use strict";
  var keyInput = document.getElementById("try-key");
  var clientInput = document.getElementById("try-client");
  var UNSAFE = { POST: 1, PUT: 1, PATCH: 1, DELETE: 1 };

  function cookie(name) {
    var match = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
  }

  function target(form) {
    var path = form.getAttribute("data-path");
    var query = new URLSearchParams();
    form.querySelectorAll("[data-param]").forEach(function (input) {
      var name = input.getAttribute("data-param");
      var value = input.value.trim();
      if (input.getAttribute("data-in") === "path") {
        path = path.replace("{" + name + "}", encodeURIComponent(value));
      } else if (value !== "") {
        query.append(name, value);
      }
    });
    var rest = query.toString();
    return rest ? path + "?" + rest : path;
  }

  function body(form) {
    var json = form.querySelector("[data-json]");
    if (json) {
      var text = json.value.trim();
      if (text === "") return { value: undefined };
      try { JSON.parse(text); } catch (error) { return { error: "The body is not valid JSON: " + error.message }; }
      return { value: text, type: "application/json" };
    }
    var fields = form.querySelectorAll("[data-field]");
    if (!fields.length) return { value: undefined };
    var data = new FormData();
    fields.forEach(function (input) {
      var name = input.getAttribute("data-field");
      if (input.type === "file") {
        Array.prototype.forEach.call(input.files, function (file) { data.append(name, file, file.name); });
      } else if (input.value !== "") {
        data.append(name, input.value);
      }
    });
    return { value: data };
  }

  function show(form, status, meta, text, download) {
    var answer = form.querySelector("[data-try-answer]");
    answer.hidden = false;
    answer.querySelector("[data-try-status]").textContent = status;
    answer.querySelector("[data-try-meta]").textContent = meta;
    var pre = answer.querySelector("[data-try-body]");
    pre.textContent = text;
    var old = answer.querySelector("[data-try-download]");
    if (old) { URL.revokeObjectURL(old.href); old.remove(); }
    if (download) answer.append(download);
  }

  async function send(form) {
    var button = form.querySelector("button[type=submit]");
    var method = form.getAttribute("data-method");
    var payload = body(form);
    if (payload.error) { show(form, "Not sent", "", payload.error); return; }
    var headers = { Accept: "application/json, */*" };
    var key = keyInput ? keyInput.value.trim() : "";
    var client = clientInput ? clientInput.value.trim() : "";
    if (key) headers["X-API-Key"] = key;
    else if (UNSAFE[method]) headers["X-CSRF-Token"] = cookie("__Host-csrf_token") || cookie("csrf_token") || "";
    if (client) headers["X-Client-Id"] = client;
    if (payload.type) headers["Content-Type"] = payload.type;
    button.disabled = true;
    var label = button.textContent;
    button.textContent = "Sending…";
    try {
      var response = await fetch(target(form), {
        method: method, headers: headers, body: payload.value,
        // With a key, the key alone speaks: the session's cookies stay out of it.
        credentials: key ? "omit" : "same-origin"
      });
      var type = response.headers.get("content-type") || "";
      var id = response.headers.get("x-request-id");
      var meta = [type.split(";")[0], id ? "request " + id : ""].filter(Boolean).join(" · ");
      var status = response.status + " " + (response.statusText || "");
      if (type.indexOf("json") !== -1) {
        var data = await response.json();
        show(form, status, meta, JSON.stringify(data, null, 2));
      } else if (type.indexOf("text/") === 0 || type === "") {
        show(form, status, meta, await response.text());
      } else {
        var blob = await response.blob();
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = "answer";
        link.className = "btn";
        link.setAttribute("data-try-download", "");
        link.textContent = "Save the answer (" + blob.size + " bytes)";
        show(form, status, meta, blob.size + " bytes of " + type.split(";")[0] + ".", link);
      }
    } catch (error) {
      show(form, "Not answered", "", "The request did not get an answer: " + error.message);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-try]");
    if (form) { event.preventDefault(); send(form); return; }
    if (event.target.closest("form[data-try-auth]")) event.preventDefault();
  });
})();
