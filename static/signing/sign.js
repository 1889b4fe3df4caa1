// The sign and BankID login pages: poll the status every 2 s, show BankID's message, refresh the QR
// code, go on when done. Without JavaScript the pages work with the "Jag har signerat" reload link.
(function () {
  "use strict";
  var root = document.getElementById("signing");
  if (!root || root.dataset.status !== "pending") { return; }
  var message = document.getElementById("signing-message");
  var qr = document.getElementById("bankid-qr");
  var cancelForm = document.getElementById("cancel-form");
  var launch = root.dataset.launch || "";
  var leaving = false;   // the BankID app was opened from here: keep the order when the page goes
  var submitted = false; // a form was sent or the page reloads: this page's polling is over
  var finished = false;

  var autostart = document.getElementById("autostart");
  if (autostart) {
    autostart.addEventListener("click", function () {
      launch = autostart.dataset.launch;
      leaving = true; // the BankID app takes over; don't cancel the order when this page is left
    });
  }

  // Submitting a form (the token's answer, Avbryt, the language switch) or reloading to check the
  // status is not leaving: only navigating elsewhere cancels the order.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () { leaving = true; submitted = true; });
  });
  var check = document.getElementById("check");
  if (check) { check.addEventListener("click", function () { leaving = true; submitted = true; }); }

  function poll() {
    if (submitted) { return; }
    var url = root.dataset.statusUrl + (launch ? "?launch=" + encodeURIComponent(launch) : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        // An answer that arrives after a form was sent must not navigate too: the form's own
        // response decides where the browser goes (else the caller's return URL is visited twice).
        if (submitted) { return; }
        if (data.loggedOut) { window.location.reload(); return; }
        if (data.message && message) { message.textContent = data.message; }
        if (qr) {
          if (data.qr) { qr.src = data.qr; qr.dataset.qr = data.qrData; qr.hidden = false; } else { qr.hidden = true; }
        }
        // The animated QR code changes every second; otherwise BankID's 2-second collect rhythm.
        if (data.status === "pending") { window.setTimeout(poll, data.qr ? 1000 : 2000); return; }
        finished = true;
        if (data.redirect) { window.location.assign(data.redirect); return; }
        window.location.reload();
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 1000);

  // Leaving the page cancels the order (BankID: at BankID too), unless the app was opened from here.
  window.addEventListener("pagehide", function () {
    if (finished || leaving || !cancelForm || !navigator.sendBeacon) { return; }
    var data = new FormData(cancelForm);
    data.append("beacon", "1");
    navigator.sendBeacon(cancelForm.action, data);
  });
})();
