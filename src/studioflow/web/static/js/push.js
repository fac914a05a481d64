// "Enable push on this browser": registers the service worker, subscribes with the
// server's VAPID key and registers the subscription as a push device.
(function () {
  "use strict";
  function keyBytes(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  document.addEventListener("click", async function (event) {
    var button = event.target.closest("[data-push-subscribe]");
    if (!button) return;
    var toast = window.studioflow.toast;
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) { toast("This browser cannot receive push notifications.", "error"); return; }
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") { toast("Notifications are blocked for this site.", "error"); return; }
      var registration = await navigator.serviceWorker.register("/sw.js");
      var subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(button.getAttribute("data-key")) });
      var result = await window.studioflow.api("POST", "/api/v1/push-devices", { platform: "web", token: JSON.stringify(subscription) });
      if (result.ok) { sessionStorage.setItem("studioflow.toast", "Push is on for this browser."); window.location.reload(); }
      else toast((result.data && result.data.detail) || "That did not work.", "error");
    } catch (e) {
      toast("Could not turn on push here.", "error");
    } finally { button.disabled = false; }
  });
})();
