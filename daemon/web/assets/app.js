// Cairn's web page: a little behaviour on top of pages that work without it.
"use strict";

// Forms that change something and say so ask first (data-confirm).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// A URL shown once (a new link) is selected when focused, and copied by its button, which
// shows only where a script can copy.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) continue;
  field.addEventListener("focus", () => field.select());
  button.hidden = false;
  button.addEventListener("click", async () => {
    field.focus();
    field.select();
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } else {
        copied = document.execCommand("copy");
      }
    } catch (e) {
      copied = false;
    }
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
  });
}
