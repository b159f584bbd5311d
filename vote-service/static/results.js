// The results page's live updates: an enhancement, since without JavaScript the page shows the
// tally as it was when loaded. Each "tally" event from /results/stream replaces the numbers.
// When the stream is refused (too many open: 503) or fails for good, the page reloads itself
// every few seconds instead.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var reloadMs = Number(live.dataset.reloadMs) || 5000;

  function show(tally) {
    tally.options.forEach(function (option) {
      var row = document.querySelector('.option[data-key="' + CSS.escape(option.key) + '"]');
      if (!row) return;
      row.querySelector(".votes").textContent = option.votes;
      row.querySelector(".percent").textContent = option.percent;
      var bar = document.querySelector('[data-bar="' + CSS.escape(option.key) + '"]');
      if (bar) {
        bar.value = option.percent;
        bar.textContent = option.percent + "%";
      }
    });
    document.getElementById("summary").textContent =
      tally.total === 0 ? "No votes yet" : tally.total === 1 ? "1 vote" : tally.total + " votes";
  }

  function reloadLater() {
    live.textContent =
      "Live updates are unavailable right now; this page reloads every " +
      Math.round(reloadMs / 1000) + " seconds.";
    live.hidden = false;
    window.setTimeout(function () { window.location.reload(); }, reloadMs);
  }

  if (!window.EventSource) {
    reloadLater();
    return;
  }
  var source = new EventSource("/results/stream");
  source.addEventListener("tally", function (event) {
    show(JSON.parse(event.data));
  });
  source.addEventListener("error", function () {
    // A refused stream (any status but 200) is closed for good; a dropped one reconnects.
    if (source.readyState === EventSource.CLOSED) {
      reloadLater();
    }
  });
})();
