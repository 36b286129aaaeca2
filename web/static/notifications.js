// The notifications page: new ones appear at the top as they arrive.
const list = document.getElementById("notifications");
const shown = new Set();

window.addEventListener("opentr:notification", (event) => {
  const n = event.detail;
  if (shown.has(n.uuid) || !list) return;
  shown.add(n.uuid);
  if (list.querySelector(".empty")) list.querySelector(".empty").remove();
  const created = new Date(n.created_at);
  if (Date.now() - created.getTime() > 5000) return; // already listed by the page itself
  const item = document.createElement("li");
  item.className = "unread";
  const title = document.createElement("strong");
  title.textContent = n.title;
  item.append(title);
  if (n.message) item.append(` — ${n.message}`);
  if (n.file_uuid) {
    const link = document.createElement("a");
    link.href = `/files/${n.file_uuid}`;
    link.textContent = " Open file";
    item.append(" ", link);
  }
  list.prepend(item);
});
