/* Live updates of the town overview: follow the ledger's event stream (/events/stream with a
   short-lived browser credential) and, when events arrive, fetch the overview's table again
   as server-rendered HTML. No rule runs here; the page works without this script. */
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var target = document.getElementById("overview-live");
  if (!status || !target || !window.EventSource) { return; }
  var after = status.getAttribute("data-stream-after") || "0";
  var credential = status.getAttribute("data-credential");
  var pending = null;
  var source = null;

  function say(text) { status.textContent = text; }

  function refresh() {
    pending = null;
    fetch(status.getAttribute("data-fragment-url"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes));
        say(status.getAttribute("data-label-updated") + " " + new Date().toLocaleTimeString());
      })
      .catch(function () { /* the next event tries again */ });
  }

  function open() {
    var url = "/events/stream?after=" + encodeURIComponent(after);
    if (credential) { url += "&access_token=" + encodeURIComponent(credential); }
    source = new EventSource(url);
    source.onopen = function () { say(status.getAttribute("data-label-on")); };
    source.onmessage = function (e) {
      if (e.lastEventId) { after = e.lastEventId; }
      if (!pending) { pending = setTimeout(refresh, 300); }
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) { renew(); }
    };
  }

  function renew() {
    // The credential expired (or the server restarted): ask for a new one, then reopen.
    fetch(status.getAttribute("data-credential-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body) { credential = body.credential; setTimeout(open, 1000); }
      })
      .catch(function () { setTimeout(renew, 5000); });
  }

  open();
}());

/* The integrity page's "copy the command" buttons. */
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (b) {
    b.classList.remove("hidden");
    b.addEventListener("click", function () {
      var text = document.getElementById(b.getAttribute("data-copy")).textContent;
      navigator.clipboard.writeText(text).then(function () {
        b.textContent = b.getAttribute("data-done");
      });
    });
  });
}());
