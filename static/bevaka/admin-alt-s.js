// "Tryck Alt+S" on the back office's pages that offer it (the skip link's accesskey works in some browsers
// only: Firefox wants Alt+Shift, macOS Ctrl+Alt), as static/bevaka/site.js does for the customer pages.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var main = document.getElementById("content-start");
    if (main && event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyS") {
      event.preventDefault();
      main.focus();
      main.scrollIntoView();
    }
  });
})();
