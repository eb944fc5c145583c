// Public redeem page: move focus to the answer after a submit, so it is read out and seen.
"use strict";
(function () {
  var message = document.getElementById("result-message");
  if (message) {
    message.focus();
    return;
  }
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) invalid.focus();
})();
