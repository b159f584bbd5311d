// A request's status page: polls the request's status (the URL in #outcome's data-api) until
// its outcome has been projected. Without JavaScript the page refreshes itself instead.
(function () {
  "use strict";
  var outcome = document.getElementById("outcome");
  if (!outcome || outcome.dataset.pending !== "true" || !outcome.dataset.api) return;
  var api = outcome.dataset.api;
  (function poll() {
    fetch(api, { headers: { accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (status && !status.pending) {
          outcome.textContent = status.message;
          outcome.dataset.pending = "false";
          document.getElementById("continue").href = status.next;
          document.getElementById("next").hidden = false;
        } else {
          setTimeout(poll, 300);
        }
      })
      .catch(function () { setTimeout(poll, 1000); });
  })();
})();
