// The file page's "Transcript file" form: PUT /api/files/{uuid}/transcript, then the page shows the file queued again.
import { csrf, explain, inView } from "/static/app.js";

const form = document.getElementById("attach-transcript");
if (form) {
  const input = form.elements.transcript;
  const state = form.querySelector('[data-role="attach-state"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.files.length) { input.focus(); return; }
    const data = new FormData();
    data.append("transcript", input.files[0]);
    state.textContent = "Sending the transcript file…";
    let response;
    try {
      response = await fetch(inView(form.dataset.api), {
        method: "PUT", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() },
      });
    } catch {
      state.textContent = "Not attached: the connection to the server was lost. Check it and try again.";
      return;
    }
    if (response.status === 401) {
      window.location.assign(`/signin?expired=1&next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      state.textContent = `Not attached: ${explain(response.status, body)}`;
      return;
    }
    window.location.reload(); // the page then shows the file queued, and follows its progress
  });
}
