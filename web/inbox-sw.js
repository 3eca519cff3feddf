/* Baton inbox service worker (served at /inbox/sw.js, scope /inbox/): shows the handoff
 * notifications pushed to this device while no inbox tab is open, and opens the thread when
 * one is clicked. The push message is JSON (baton_shared::notify::Message):
 * {title, body, url, tag, conversation_id, reason}. */
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var m = {};
  try { m = event.data ? event.data.json() : {}; } catch (e) { m = {}; }
  event.waitUntil(self.registration.showNotification(m.title || "A visitor needs a person", {
    body: m.body || "",
    // One notification per conversation: a newer one replaces it.
    tag: m.tag || "baton",
    renotify: true,
    requireInteraction: m.reason === "assigned",
    data: { url: m.url || "/inbox", conversation_id: m.conversation_id || "" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var url = new URL(data.url || "/inbox", self.location.origin);
  // Only ever our own inbox.
  if (url.origin !== self.location.origin || url.pathname !== "/inbox") url = new URL("/inbox", self.location.origin);
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (tabs) {
    for (var i = 0; i < tabs.length; i++) {
      var tab = tabs[i];
      if (new URL(tab.url).pathname === "/inbox" && "focus" in tab) {
        // An inbox tab is open: it opens the thread (inbox/src/notify.rs listens).
        tab.postMessage({ type: "baton-open", conversation_id: data.conversation_id, url: url.href });
        return tab.focus();
      }
    }
    return self.clients.openWindow(url.href);
  }));
});
