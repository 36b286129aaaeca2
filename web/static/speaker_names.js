// The file page's "Who is speaking?" section: an evidence time seeks the player (player.js does the seeking; the
// link's own address, for a page without scripts, is not followed), and a running request is followed until it ends,
// then the page is read again with its proposals.
import { api } from "/static/app.js";

const section = document.getElementById("speaker-names");

section?.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-seek]");
  if (link && document.getElementById("player")) event.preventDefault();
});

async function follow(run) {
  const bar = section.querySelector('[data-role="speaker-names-progress"]');
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    let state;
    try {
      state = await api("GET", `/api/llm-runs/${run}`);
    } catch {
      continue; // a moment without the server: ask again
    }
    if (bar) bar.value = state.progress;
    if (state.status !== "pending" && state.status !== "processing") {
      location.reload();
      return;
    }
  }
}

if (section?.dataset.running) follow(section.dataset.running);
