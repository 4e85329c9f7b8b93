// csqa 质检台: the little script the pages use. It never reads or writes chat text.
(function () {
  "use strict";
  // a ledger row's message link: briefly outline the message it points to
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='#m']") : null;
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    target.classList.add("target");
    window.setTimeout(function () { target.classList.remove("target"); }, 1500);
  });
  // a form that changes someone's access asks first
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.action && /\/disable$/.test(form.action) && !window.confirm("确定停用这个用户吗？")) {
      event.preventDefault();
    }
  });
}());
