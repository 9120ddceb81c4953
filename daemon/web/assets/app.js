// Cairn's web page: a little behaviour on top of pages that work without it.
"use strict";

// Forms that change something and say so ask first (data-confirm).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
