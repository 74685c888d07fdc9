// The panel's only script (the CSP allows no inline script): a form with data-confirm
// asks before it is sent.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// The inbox and a task's page keep themselves current without a reload: an element with
// data-poll asks its URL every few seconds (with the version it shows) and, when the
// server says something changed, swaps in the parts it sends, {element id: html}. The
// reply box is never one of them, so a half-written answer is not lost. The server
// renders (and escapes) the html; this only places it. A poll does not count as the user
// being active: the X-Kabinet-Poll header keeps the session's idle timeout running.
(function () {
  var POLL_MS = 3000;

  function poll(element) {
    var url = element.getAttribute("data-poll");
    var version = element.getAttribute("data-version") || "";
    var join = url.indexOf("?") >= 0 ? "&" : "?";
    return fetch(url + join + "v=" + encodeURIComponent(version), {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Kabinet-Poll": "1" },
      redirect: "manual",
    }).then(function (response) {
      if (response.type === "opaqueredirect" || response.status === 401) {
        // The session ended (logout elsewhere, idle): show the login page.
        window.location.reload();
        return false;
      }
      if (!response.ok) {
        return true; // a restart or a hiccup: try again at the next tick
      }
      return response.json().then(function (data) {
        if (data.changed) {
          Object.keys(data.parts).forEach(function (id) {
            var target = document.getElementById(id);
            if (target) {
              target.innerHTML = data.parts[id];
            }
          });
          element.setAttribute("data-version", data.version);
        }
        // The lines now on screen have been seen: a reply sent after this is not
        // held for an answer someone else gave before it (app/views/tasks.py).
        var seen = document.getElementById("reply-seen");
        if (seen && data.seen) {
          seen.value = data.seen;
        }
        return true;
      });
    });
  }

  function start() {
    var elements = document.querySelectorAll("[data-poll]");
    if (!elements.length || !window.fetch) {
      return;
    }
    function tick() {
      var all = Array.prototype.map.call(elements, function (element) {
        return poll(element).catch(function () {
          return true; // the network: try again
        });
      });
      Promise.all(all).then(function (results) {
        if (results.indexOf(false) < 0) {
          window.setTimeout(tick, document.hidden ? POLL_MS * 5 : POLL_MS);
        }
      });
    }
    window.setTimeout(tick, POLL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// A quick reply puts its text into the reply box, to send as is or edit first.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-quick]");
  var box = document.getElementById("reply-text");
  if (!button || !box) {
    return;
  }
  box.value = box.value ? box.value + "\n\n" + button.getAttribute("data-quick") : button.getAttribute("data-quick");
  box.focus();
});
