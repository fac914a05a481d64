// Studio pages: the execute form (live prompt count and cost, submit as JSON) and the live
// execution view (Server-Sent Events fill in progress and results; EventSource resumes with
// Last-Event-ID by itself after a dropped connection). No inline script (CSP).
(function () {
  "use strict";

  function toast(message, kind) { if (window.studioflow && window.studioflow.toast) window.studioflow.toast(message, kind); }

  // --- execute form --------------------------------------------------------------------
  function countPrompts(text) {
    var lines = text.split(/\r?\n/).filter(function (l) { return l.trim() !== ""; });
    if (!lines.length) return 0;
    var header = lines[0].toLowerCase().split(",").map(function (c) { return c.trim().replace(/^"|"$/g, ""); });
    if (header.indexOf("prompt") !== -1) return lines.length - 1;  // CSV: one row per prompt
    return lines.filter(function (l) { return l.trim().charAt(0) !== "#"; }).length;
  }

  var form = document.querySelector("form[data-execute]");
  if (form) {
    var box = form.querySelector("textarea[name=prompts_text]");
    var out = form.querySelector("[data-prompt-count]");
    var run = form.querySelector("[data-run]");
    var price = Number(form.getAttribute("data-price"));
    var balance = Number(form.getAttribute("data-balance"));
    var maxItems = Number(form.getAttribute("data-max-items"));
    var update = function () {
      var n = countPrompts(box.value);
      var cost = n * price;
      var text = n + (n === 1 ? " prompt" : " prompts") + " · " + cost + (cost === 1 ? " credit" : " credits");
      if (n > maxItems) text += " — more than " + maxItems + " prompts";
      else if (cost > balance) text += " — more than your balance of " + balance;
      out.textContent = text;
      out.classList.toggle("error", n > maxItems || cost > balance);
    };
    box.addEventListener("input", update);
    update();
    form.addEventListener("change", function (event) {
      var boxes = form.querySelectorAll("input[name=reference_image_ids]:checked");
      if (event.target.name === "reference_image_ids" && boxes.length > 4) {
        event.target.checked = false;
        toast("At most 4 reference images.", "info");
      }
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var summary = form.querySelector("[data-form-error]");
      summary.textContent = "";
      var refs = Array.prototype.map.call(form.querySelectorAll("input[name=reference_image_ids]:checked"), function (el) { return el.value; });
      var body = {
        prompts_text: box.value,
        config: { aspect_ratio: form.querySelector("[name=aspect_ratio]").value },
        reference_image_ids: refs
      };
      run.disabled = true;
      try {
        var result = await window.studioflow.api("POST", form.getAttribute("data-execute"), body, form.getAttribute("data-client"));
        if (result.ok) {
          sessionStorage.setItem("studioflow.toast", result.data.total + " prompts queued.");
          window.location.assign("/studio/executions/" + result.data.execution_id);
          return;
        }
        summary.textContent = (result.data && result.data.detail) || ("The request failed (" + result.status + ").");
        summary.focus();
      } catch (e) {
        toast("Could not reach the server. Check your connection.", "error");
      } finally {
        run.disabled = false;
      }
    });
  }

  // --- live execution view -------------------------------------------------------------
  var live = document.querySelector("[data-execution-live]");
  // A finished execution is rendered in full by the server: nothing to listen to.
  if (live && window.EventSource && live.getAttribute("data-active") === "true") {
    var badges = { queued: "badge-info", pending: "badge-info", processing: "badge-warning", completed: "badge-success", failed: "badge-danger", cancelled: "" };
    var setBadge = function (el, status) { el.textContent = status; el.className = "badge " + (badges[status] || ""); };
    var progress = live.querySelector("[data-progress]");
    var counts = live.querySelector("[data-counts]");
    var finish = function (data, status) {
      setBadge(live.querySelector("[data-status]"), status);
      // Something to download only when something was made.
      live.querySelectorAll("[data-finished-only]").forEach(function (el) { el.hidden = !(data.completed > 0); });
      var cancel = live.querySelector("[data-cancel]");
      if (cancel) cancel.hidden = true;
      if (data.error) { var err = live.querySelector("[data-error]"); err.textContent = data.error; err.hidden = false; }
      if (typeof data.credits_refunded === "number") live.querySelector("[data-refunded]").textContent = data.credits_refunded;
      toast("Execution " + status + ".", status === "completed" ? "success" : "info");
    };
    var onProgress = function (data) {
      var done = data.completed + data.failed + data.cancelled;
      progress.max = data.total; progress.value = done; progress.textContent = done;
      counts.textContent = data.completed + " done · " + data.failed + " failed · " + data.cancelled + " cancelled · " + data.total + " in all";
      if (data.status) setBadge(live.querySelector("[data-status]"), data.status);
      if (typeof data.credits_refunded === "number") live.querySelector("[data-refunded]").textContent = data.credits_refunded;
      // Cancellable only while queued or processing.
      var cancel = live.querySelector("[data-cancel]");
      if (cancel && data.status && data.status !== "queued" && data.status !== "processing") cancel.hidden = true;
    };
    var onItem = function (data) {
      var li = document.querySelector(".result[data-index='" + data.index + "']");
      if (!li) return;
      setBadge(li.querySelector("[data-item-status]"), data.status);
      li.querySelector("[data-attempts]").textContent = data.attempts > 1 ? "try " + data.attempts : "";
      var err = li.querySelector("[data-item-error]");
      var waiting = data.status === "pending" && data.retry_at;
      err.textContent = waiting ? (data.error || "") + " — retrying" : (data.error || "");
      err.hidden = !data.error || data.status === "completed";
      if (data.result_url && data.status === "completed") {
        var slot = li.querySelector("[data-slot]");
        if (slot) {
          var link = document.createElement("a");
          link.href = data.result_url;
          // Opens in the viewer with its prompt, like the results the page came with.
          link.setAttribute("data-view", "");
          link.setAttribute("data-view-src", data.result_url);
          link.setAttribute("data-view-download", data.result_url + "&download=true");
          link.setAttribute("data-view-title", "Result " + (data.index + 1));
          link.setAttribute("data-view-prompt", li.querySelector(".result-prompt").textContent.replace(/^\d+\.\s*/, ""));
          var img = document.createElement("img");
          img.src = data.result_url + "&size=small";
          img.alt = li.querySelector(".result-prompt").textContent;
          img.width = 240; img.height = 240;
          link.appendChild(img);
          slot.replaceWith(link);
        }
      }
    };
    var source = new EventSource(live.getAttribute("data-events-url"));
    var parse = function (e) { try { return JSON.parse(e.data); } catch (x) { return {}; } };
    source.addEventListener("progress", function (e) { onProgress(parse(e)); });
    source.addEventListener("item", function (e) { onItem(parse(e)); });
    ["completed", "failed", "cancelled"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = parse(e);
        onProgress(data);
        finish(data, kind);
        source.close();
      });
    });
  }
})();
