// Console: ask before reversing a redemption (forms marked data-confirm).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
(function () {
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) invalid.focus();
})();
