// Eventline dashboard: htmx does the live updates and the forms; this only
// keeps polling off while the tab is hidden and marks a failed refresh.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (e) {
    var t = e.detail && e.detail.requestConfig && e.detail.requestConfig.triggeringEvent;
    // A poll ("every Ns") of a hidden tab is skipped; user actions never are.
    if (document.hidden && t && t.type === "every") {
      e.preventDefault();
    }
  });
  document.addEventListener("htmx:responseError", function (e) {
    var el = e.detail && e.detail.target;
    if (el) {
      el.setAttribute("data-stale", "true");
      el.setAttribute("title", "Last refresh failed (" + e.detail.xhr.status + "); retrying.");
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var el = e.detail && e.detail.target;
    if (el) {
      el.removeAttribute("data-stale");
      el.removeAttribute("title");
    }
  });
})();
