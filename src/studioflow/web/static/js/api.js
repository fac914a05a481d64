// Pages change things through the JSON API: this sends forms and buttons there with the
// CSRF header and active client, renews an expired session once, and shows problem+json
// errors next to the fields they name. No inline script anywhere (CSP).
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.split("; ").find(function (c) { return c.indexOf(name + "=") === 0; });
    return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
  }
  function csrf() { return cookie("__Host-csrf_token") || cookie("csrf_token"); }
  function toast(message, kind) { if (window.studioflow) window.studioflow.toast(message, kind); }

  async function call(method, url, body, clientId, retried) {
    var headers = { "Accept": "application/json" };
    var token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    if (clientId) headers["X-Client-Id"] = clientId;
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    var response = await fetch(url, init);
    if (response.status === 401 && !retried && url.indexOf("/api/v1/auth/") !== 0) {
      var renewed = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
      if (renewed.ok) return call(method, url, body, clientId, true);
    }
    var data = null;
    var type = response.headers.get("content-type") || "";
    if (type.indexOf("json") !== -1) data = await response.json();
    return { ok: response.ok, status: response.status, data: data };
  }
  window.studioflow = window.studioflow || {};
  window.studioflow.api = call;

  function formBody(form) {
    var body = {};
    var scopes = [];
    var lists = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      if (el.type === "radio") { if (el.checked) body[el.name] = el.value; return; }
      if (el.type === "checkbox") {
        if (el.name === "scopes") { if (el.checked) scopes.push(el.value); return; }
        // A group of checkboxes with data-list (an image's albums): the ticked values as a
        // list, empty when none is ticked.
        if (el.hasAttribute("data-list")) {
          lists[el.name] = lists[el.name] || [];
          if (el.checked) lists[el.name].push(el.value);
          return;
        }
        body[el.name] = el.checked; return;
      }
      // data-scale: the field is in larger units (GB, MB) than the API's (bytes).
      if (el.type === "number") {
        if (el.value === "") return;
        var scale = Number(el.getAttribute("data-scale") || 1);
        body[el.name] = scale === 1 ? Number(el.value) : Math.round(Number(el.value) * scale);
        return;
      }
      if (el.tagName === "SELECT" && (el.value === "true" || el.value === "false")) { body[el.name] = el.value === "true"; return; }
      if (el.type === "datetime-local") { if (el.value !== "") body[el.name] = el.value + ":00Z"; return; }
      // data-json: a JSON object typed by hand (workflow overrides); not JSON: sent as
      // text, and the API's 422 names the field.
      if (el.hasAttribute("data-json")) {
        if (el.value.trim() === "") return;
        try { body[el.name] = JSON.parse(el.value); } catch (e) { body[el.name] = el.value; }
        return;
      }
      // A textarea of one entry per line (allowed sites): a list, blank lines dropped.
      if (el.hasAttribute("data-lines")) { body[el.name] = el.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean); return; }
      if (el.tagName === "SELECT" && el.value === "" && el.name.slice(-3) === "_id") { body[el.name] = null; return; }
      // data-keep-empty: an emptied field is sent as "" (clearing a banner), not left out.
      if (el.value !== "" || el.hasAttribute("data-keep-empty")) body[el.name] = el.value;
    });
    if (form.querySelector("input[name=scopes]")) body.scopes = scopes;
    Object.keys(lists).forEach(function (name) { body[name] = lists[name]; });
    // data-nested="events": checkboxes named "event|channel" become {events: {event:
    // {channel: checked}}} (notification preferences).
    var nested = form.getAttribute("data-nested");
    if (nested) {
      var grouped = {};
      Object.keys(body).forEach(function (name) {
        var parts = name.split("|");
        if (parts.length !== 2) return;
        grouped[parts[0]] = grouped[parts[0]] || {};
        grouped[parts[0]][parts[1]] = body[name];
      });
      var out = {}; out[nested] = grouped; return out;
    }
    // data-dotted: a field named "location.lat" is sent as {location: {lat: …}}.
    if (form.hasAttribute("data-dotted")) {
      Object.keys(body).forEach(function (name) {
        var dot = name.indexOf(".");
        if (dot < 1) return;
        var outer = name.slice(0, dot);
        body[outer] = body[outer] || {};
        body[outer][name.slice(dot + 1)] = body[name];
        delete body[name];
      });
    }
    // data-optional="deposit": a dotted object sent only when its amount was filled in
    // (an empty deposit field means none, not a deposit without an amount).
    (form.getAttribute("data-optional") || "").split(" ").filter(Boolean).forEach(function (name) {
      if (body[name] && body[name].amount === undefined) delete body[name];
    });
    // data-hours: fields named "weekday.n.start" / "weekday.n.end" become the weekly hours
    // array [{weekday, start, end}], ranges left empty dropped.
    if (form.hasAttribute("data-hours")) {
      var ranges = {};
      Object.keys(body).forEach(function (name) {
        var parts = name.split(".");
        if (parts.length !== 3) return;
        var key = parts[0] + "." + parts[1];
        ranges[key] = ranges[key] || { weekday: Number(parts[0]) };
        ranges[key][parts[2]] = body[name];
      });
      return Object.keys(ranges).map(function (k) { return ranges[k]; })
        .filter(function (r) { return r.start && r.end; });
    }
    // data-shape="provider_keys": the fields are one object under that name.
    var shape = form.getAttribute("data-shape");
    if (shape) { var wrapped = {}; wrapped[shape] = body; return wrapped; }
    return body;
  }

  function showErrors(form, result) {
    form.querySelectorAll("[aria-invalid=true]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    var problem = result.data || {};
    var summary = form.querySelector("[data-form-error]");
    var message = problem.detail || ("The request failed (" + result.status + ").");
    (problem.errors || []).forEach(function (err) {
      var name = (err.loc || [])[err.loc.length - 1];
      var field = name && form.querySelector("[name='" + name + "']");
      if (field) {
        field.setAttribute("aria-invalid", "true");
        var note = document.createElement("p");
        note.className = "error field-error";
        note.textContent = err.msg;
        field.insertAdjacentElement("afterend", note);
      }
    });
    if (summary) { summary.textContent = message; summary.focus(); } else { toast(message, "error"); }
  }

  async function succeed(el, result) {
    var action = el.getAttribute("data-success") || "reload";
    var message = el.getAttribute("data-toast");
    if (action.indexOf("secret:") === 0) {
      var target = document.getElementById(action.slice(7));
      target.querySelector("code").textContent = result.data.api_key;
      target.hidden = false;
      target.querySelector("button").focus();
      if (message) toast(message, "success");
      return;
    }
    if (action.indexOf("redirect:") === 0) {
      var to = action.slice(9).replace("{email}", encodeURIComponent((el.elements && el.elements.email && el.elements.email.value) || ""));
      if (message) sessionStorage.setItem("studioflow.toast", message);
      window.location.assign(to);
      return;
    }
    // follow:path.in.answer|fallback: go where the answer says (a payment's page), or to
    // the fallback when it names nowhere (paid at once from the wallet). Same origin only.
    if (action.indexOf("follow:") === 0) {
      var spec = action.slice(7).split("|");
      var found = spec[0].split(".").reduce(function (o, k) { return o && o[k]; }, result.data);
      var target = spec[1] || window.location.pathname;
      if (found) { var url = new URL(found, window.location.origin); target = url.pathname + url.search; }
      if (message) sessionStorage.setItem("studioflow.toast", message);
      window.location.assign(target);
      return;
    }
    if (action === "toast") { toast(message || "Done.", "success"); if (el.reset) el.reset(); return; }
    if (message) sessionStorage.setItem("studioflow.toast", message);
    window.location.reload();
  }

  document.addEventListener("submit", async function (event) {
    var form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      var body = formBody(form);
      // A {field} in the address is filled from the form (the workspace a grant goes to).
      var url = form.getAttribute("data-api").replace(/\{(\w+)\}/g, function (_, name) {
        var value = body[name]; delete body[name]; return encodeURIComponent(value);
      });
      var result = await call(form.getAttribute("data-method") || "POST", url,
        body, form.getAttribute("data-client"));
      if (result.ok) await succeed(form, result); else showErrors(form, result);
    } catch (e) {
      toast("Could not reach the server. Check your connection.", "error");
    } finally {
      if (button) button.disabled = false;
    }
  });

  document.addEventListener("click", async function (event) {
    var button = event.target.closest("button[data-api]");
    if (button) {
      if (button.hasAttribute("data-confirm") &&
          !(await window.studioflow.confirm(button.getAttribute("data-confirm"),
            button.getAttribute("data-confirm-label") || button.textContent.trim()))) return;
      button.disabled = true;
      var raw = button.getAttribute("data-body");
      var result = await call(button.getAttribute("data-method") || "POST", button.getAttribute("data-api"),
        raw ? JSON.parse(raw) : undefined, button.getAttribute("data-client"));
      button.disabled = false;
      if (result.ok) await succeed(button, result);
      else toast((result.data && result.data.detail) || "That did not work.", "error");
      return;
    }
    if (event.target.closest("[data-signout]")) {
      await call("POST", "/api/v1/auth/logout");
      window.location.assign("/login");
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var text = document.getElementById(copy.getAttribute("data-copy")).textContent;
      try { await navigator.clipboard.writeText(text); toast("Copied to the clipboard.", "success"); }
      catch (e) { toast("Select the text and copy it.", "info"); }
    }
  });

  document.addEventListener("change", async function (event) {
    var select = event.target.closest("[data-client-switch]");
    if (select) {
      document.cookie = "client_id=" + select.value + "; path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
      var page = window.location.pathname.match(/^\/clients\/[^/]+\/(members|activity)$/);
      window.location.assign(page ? "/clients/" + select.value + "/" + page[1] : window.location.pathname);
      return;
    }
    var role = event.target.closest("select[data-role-api]");
    if (role) {
      var result = await call("PATCH", role.getAttribute("data-role-api"), { role: role.value }, role.getAttribute("data-client"));
      if (result.ok) toast("Role changed to " + role.value + ".", "success");
      else { toast((result.data && result.data.detail) || "That did not work.", "error"); role.value = role.getAttribute("data-current"); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var auto = document.querySelector("form[data-api][data-autosubmit]");
    if (auto) auto.requestSubmit();
    var pending = sessionStorage.getItem("studioflow.toast");
    if (pending) { sessionStorage.removeItem("studioflow.toast"); toast(pending, "success"); }
  });
  // HTMX requests (partials) carry the CSRF header too.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrf();
    if (token) event.detail.headers["X-CSRF-Token"] = token;
  });
})();
