// The service worker of Web Push: shows what the server pushed (title, body) and opens its
// link when clicked. Served at /sw.js so its scope is the whole site.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: "Studioflow", body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "Studioflow", {
    body: data.body || "",
    data: { link: data.link || "/notifications" },
    icon: "/static/favicon.svg"
  }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var link = (event.notification.data && event.notification.data.link) || "/notifications";
  event.waitUntil(self.clients.openWindow(link));
});
