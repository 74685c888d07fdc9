// «Тексты сообщений»: the preview under each text follows what is typed. The server
// checks the text and fills it in (POST /settings/templates/preview); this only shows
// its answer, as text (never as html). Without script the «Предпросмотр» button does it.
(function () {
  function show(target, data) {
    target.textContent = "";
    if (data.ok) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = "Пациент увидит:";
      var pre = document.createElement("pre");
      pre.textContent = data.text;
      target.appendChild(note);
      target.appendChild(pre);
    } else {
      var error = document.createElement("p");
      error.className = "error";
      error.textContent = data.error;
      target.appendChild(error);
    }
  }

  // A text linked to (#t-<key>, as after «Сохранить») opens its group: a closed
  // <details> would hide it.
  function openLinked() {
    var id = window.location.hash.slice(1);
    var target = id ? document.getElementById(id) : null;
    var group = target ? target.closest("details.template-group") : null;
    if (group && !group.open) {
      group.open = true;
      target.scrollIntoView();
    }
  }

  function start() {
    var root = document.getElementById("templates-preview");
    if (!root) {
      return;
    }
    openLinked();
    window.addEventListener("hashchange", openLinked);
    var url = root.getAttribute("data-preview");
    var csrf = root.getAttribute("data-csrf");
    var timers = {};
    document.querySelectorAll("form.template textarea").forEach(function (area) {
      area.addEventListener("input", function () {
        var form = area.form;
        var key = form.getAttribute("data-key");
        var lang = area.getAttribute("data-lang");
        var target = document.getElementById("p-" + key + "-" + lang);
        clearTimeout(timers[area.id]);
        timers[area.id] = setTimeout(function () {
          var body = new URLSearchParams();
          body.set("csrf_token", csrf);
          body.set("key", key);
          body.set("lang", lang);
          body.set("text", area.value);
          body.set("patient", root.getAttribute("data-patient") || "");
          fetch(url, {
            method: "POST",
            credentials: "same-origin",
            headers: { Accept: "application/json", "X-CSRFToken": csrf },
            body: body,
          }).then(function (response) {
            if (response.ok) {
              return response.json().then(function (data) {
                show(target, data);
              });
            }
          });
        }, 250);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
