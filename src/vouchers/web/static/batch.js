// New batch: POST the form to the console's batch pass-through, then follow its progress.
"use strict";
(function () {
  var form = document.getElementById("batch-form");
  if (!form) return;
  var csrf = document.querySelector("meta[name='csrf-token']").getAttribute("content");
  var errorBox = document.getElementById("batch-error");
  var progress = document.getElementById("batch-progress");
  var bar = document.getElementById("batch-bar");
  var statusText = document.getElementById("batch-status");
  var download = document.getElementById("batch-download");
  var submit = document.getElementById("batch-submit");
  var FIELDS = ["count", "max_redemptions", "expires_at", "starts_at", "per_customer_limit", "code_length", "code_prefix"];
  var number = new Intl.NumberFormat("en");

  function value(name) {
    return form.elements[name].value.trim();
  }

  function clearErrors() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    FIELDS.forEach(function (name) {
      var input = form.elements[name];
      input.removeAttribute("aria-invalid");
      var old = document.getElementById(name + "-error");
      if (old) old.remove();
      var hint = document.getElementById(name + "-hint");
      if (hint) input.setAttribute("aria-describedby", hint.id);
      else input.removeAttribute("aria-describedby");
    });
  }

  function fieldError(name, message) {
    var input = form.elements[name];
    if (!input) return false;
    var p = document.createElement("p");
    p.className = "field-error";
    p.id = name + "-error";
    p.textContent = message;
    input.parentNode.appendChild(p);
    input.setAttribute("aria-invalid", "true");
    var described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", (described ? described + " " : "") + p.id);
    return true;
  }

  function showProblem(problem) {
    var first = null;
    (problem.errors || []).forEach(function (item) {
      var name = String(item.field || "").replace(/^code\./, "code_");
      if (fieldError(name, item.message) && !first) first = form.elements[name];
    });
    errorBox.textContent = problem.code === "route_not_found"
      ? "Batches are not available on this server yet."
      : (problem.detail || problem.title || "The batch could not be created.");
    errorBox.hidden = false;
    (first || errorBox).focus();
  }

  function body() {
    var data = {
      count: Number(value("count")),
      max_redemptions: Number(value("max_redemptions")),
      expires_at: value("expires_at")
    };
    if (value("starts_at")) data.starts_at = value("starts_at");
    if (value("per_customer_limit")) data.per_customer_limit = Number(value("per_customer_limit"));
    var code = {};
    if (value("code_length")) code.length = Number(value("code_length"));
    if (value("code_prefix")) code.prefix = value("code_prefix");
    if (Object.keys(code).length) data.code = code;
    return data;
  }

  function show(batch) {
    var count = batch.count || 0;
    var created = batch.created || 0;
    bar.max = Math.max(count, 1);
    bar.value = created;
    if (batch.status === "done") {
      statusText.textContent = "Done: " + number.format(created) + " codes created.";
      download.href = "/admin/batches/" + encodeURIComponent(batch.id) + "/codes.csv";
      download.hidden = false;
      submit.disabled = false;
      return true;
    }
    if (batch.status === "failed") {
      statusText.textContent = "The batch failed: " + (batch.error || "unknown error") + ".";
      submit.disabled = false;
      return true;
    }
    statusText.textContent = (batch.status === "pending" ? "Waiting to start: " : "Working: ") +
      number.format(created) + " of " + number.format(count) + " codes created.";
    return false;
  }

  function poll(id) {
    fetch("/admin/batches/" + encodeURIComponent(id), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (json) { return [response, json]; }); })
      .then(function (pair) {
        if (!pair[0].ok) { showProblem(pair[1]); submit.disabled = false; return; }
        if (!show(pair[1])) window.setTimeout(function () { poll(id); }, 700);
      })
      .catch(function () { window.setTimeout(function () { poll(id); }, 2000); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    submit.disabled = true;
    download.hidden = true;
    var key = (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID().replace(/-/g, "") : String(Date.now()) + "0000000000000000";
    fetch("/admin/batches", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Idempotency-Key": key, Accept: "application/json" },
      body: JSON.stringify(body())
    })
      .then(function (response) { return response.json().then(function (json) { return [response, json]; }); })
      .then(function (pair) {
        if (!pair[0].ok) { showProblem(pair[1]); submit.disabled = false; return; }
        progress.hidden = false;
        statusText.textContent = "Batch started.";
        if (!show(pair[1])) poll(pair[1].id);
      })
      .catch(function () {
        errorBox.textContent = "Could not reach the server; nothing was started. Try again.";
        errorBox.hidden = false;
        submit.disabled = false;
      });
  });
})();
