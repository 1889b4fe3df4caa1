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
})();
