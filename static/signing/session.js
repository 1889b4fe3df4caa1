// Idle-timeout warning: a minute before the server ends an idle session, offer to stay logged in, with a
// countdown. The countdown (role=timer) is not a live region, so a screen reader is not told every second;
// a separate status line says the time left at 30 and 10 seconds.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.dataset.sessionIdle || "0", 10);
  if (!idle) { return; }
  var warnBefore = parseInt(body.dataset.sessionWarning || "60", 10);
  var warning = null;
  var warnTimer = null;
  var endTimer = null;
  var tickTimer = null;
  var endsAt = 0;
  var countdown = null;
  var spoken = null;

  function timeLeft(seconds) {
    var text = Math.floor(seconds / 60) + ":" + ("0" + (seconds % 60)).slice(-2);
    return body.dataset.sessionCountdownText + " " + text;
  }

  function tick() {
    var seconds = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
    countdown.textContent = timeLeft(seconds);
    if (seconds === 30 || seconds === 10) { spoken.textContent = timeLeft(seconds); }
    if (seconds > 0) { tickTimer = window.setTimeout(tick, 1000); }
  }

  function schedule() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    window.clearTimeout(tickTimer);
    endsAt = Date.now() + idle * 1000;
    warnTimer = window.setTimeout(showWarning, Math.max(0, idle - warnBefore) * 1000);
    endTimer = window.setTimeout(function () { window.location.assign(body.dataset.sessionLoginUrl); },
      idle * 1000 + 1000);
  }

  function showWarning() {
    if (warning) { warning.hidden = false; spoken.textContent = ""; tick(); return; }
    warning = document.createElement("div");
    warning.className = "notice session-warning";
    warning.setAttribute("role", "alertdialog");
    warning.setAttribute("aria-labelledby", "session-warning-text");
    var text = document.createElement("p");
    text.id = "session-warning-text";
    text.textContent = body.dataset.sessionWarningText;
    countdown = document.createElement("p");
    countdown.setAttribute("role", "timer");
    countdown.className = "session-countdown";
    spoken = document.createElement("p");
    spoken.setAttribute("role", "status");
    spoken.className = "visually-hidden";
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
    warning.appendChild(countdown);
    warning.appendChild(button);
    var main = document.getElementById("main");
    main.insertBefore(warning, main.firstChild);
    main.insertBefore(spoken, warning.nextSibling);
    tick();
    button.focus();
  }

  schedule();
})();
