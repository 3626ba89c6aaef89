// InstaChat queue dashboard: asks before destructive forms, and reloads the
// page every 5 s while "every 5 s" is ticked. The page works without it.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var question = ev.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      ev.preventDefault();
    }
  });

  var box = document.getElementById("autorefresh");
  if (!box) {
    return;
  }
  var key = "instachat.dashboard.autorefresh";
  var timer = null;
  function arm() {
    clearTimeout(timer);
    if (!box.checked) {
      return;
    }
    timer = setTimeout(function () {
      // Reload the view without the last action's report.
      var url = new URL(window.location.href);
      ["done", "id", "n"].forEach(function (k) { url.searchParams.delete(k); });
      window.location.replace(url.toString());
    }, 5000);
  }
  try {
    box.checked = window.localStorage.getItem(key) === "1";
  } catch (e) { /* storage may be off; the box then starts unticked */ }
  box.addEventListener("change", function () {
    try {
      window.localStorage.setItem(key, box.checked ? "1" : "0");
    } catch (e) { /* ignore */ }
    arm();
  });
  arm();
})();
