// The only script of the web page: refresh a running retrain's progress without reloading by hand.
(function () {
  "use strict";
  var box = document.getElementById("job-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  function poll() {
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (job) {
      box.textContent = job.state + ": " + job.progress;
      if (job.state === "running") { window.setTimeout(poll, 1000); } else { window.location.reload(); }
    }).catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
