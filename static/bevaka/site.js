// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";
  document.querySelectorAll('[data-action="print"]').forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll('[data-action="close"]').forEach(function (link) {
    link.addEventListener("click", function (event) {
      // Opened as a help window: close it. Otherwise the link goes back to where the user came from.
      if (window.opener) {
        event.preventDefault();
        window.close();
      }
    });
  });
  // "Tryck Alt+S": the skip link's accesskey does this in some browsers only (Firefox wants Alt+Shift,
  // macOS Ctrl+Alt), so Alt+S moves to the content everywhere.
  var main = document.getElementById("main");
  document.addEventListener("keydown", function (event) {
    if (main && event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyS") {
      event.preventDefault();
      main.focus();
      main.scrollIntoView();
    }
  });
})();
