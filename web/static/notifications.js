// The notifications page: new ones appear at the top as they arrive.
const list = document.getElementById("notifications");
const shown = new Set();
const KINDS = { transcription: "transcript", speakers: "speakers", summary: "summary", error: "problem",
  system: "notice", shared: "shared with you" };

window.addEventListener("opentr:notification", (event) => {
  const n = event.detail;
  if (shown.has(n.uuid) || !list) return;
  shown.add(n.uuid);
  if (list.querySelector(".empty")) list.querySelector(".empty").remove();
  const created = new Date(n.created_at);
  if (Date.now() - created.getTime() > 5000) return; // already listed by the page itself
  const item = document.createElement("li");
  item.className = "unread";
  item.dataset.kind = n.kind;
  const kind = document.createElement("span");
  kind.className = "badge";
  kind.textContent = KINDS[n.kind] || n.kind;
  item.append(kind, " ");
  const title = document.createElement("strong");
  title.textContent = n.title;
  item.append(title);
  if (n.message) item.append(` — ${n.message}`);
  const data = n.data || {};
  // a share links to what was shared (data.url: a path of this site), as the list page does
  const url = typeof data.url === "string" && data.url.startsWith("/") && !data.url.startsWith("//") ? data.url : null;
  const target = n.file_uuid ? [`/files/${n.file_uuid}`, "Open file"] : url ? [url, "Open"] : null;
  if (target) {
    const link = document.createElement("a");
    link.href = target[0];
    link.textContent = target[1];
    item.append(" ", link);
  }
  list.prepend(item);
});
