// Idle-timeout warning: a minute before the server ends an idle session, offer to stay logged in.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.dataset.sessionIdle || "0", 10);
  if (!idle) { return; }
  var warnBefore = parseInt(body.dataset.sessionWarning || "60", 10);
  var warning = null;
  var warnTimer = null;
  var endTimer = null;

  function schedule() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    warnTimer = window.setTimeout(showWarning, Math.max(0, idle - warnBefore) * 1000);
    endTimer = window.setTimeout(function () { window.location.assign(body.dataset.sessionLoginUrl); },
      idle * 1000 + 1000);
  }

  function showWarning() {
    if (warning) { warning.hidden = false; return; }
    warning = document.createElement("div");
    warning.className = "notice session-warning";
    warning.setAttribute("role", "alertdialog");
    warning.setAttribute("aria-live", "assertive");
    var text = document.createElement("p");
    text.textContent = body.dataset.sessionWarningText;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = body.dataset.sessionStayText;
    button.addEventListener("click", function () {
      fetch(body.dataset.sessionAliveUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          // The page's figure was what was left when it was rendered; the server now counts from here.
          idle = parseInt(answer.idleTimeout, 10) || idle;
          warning.hidden = true;
          schedule();
        });
    });
    warning.appendChild(text);
    warning.appendChild(button);
    var main = document.getElementById("main");
    main.insertBefore(warning, main.firstChild);
    button.focus();
  }

  schedule();
})();
