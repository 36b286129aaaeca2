// The library: status badges and progress bars follow processing live; "Load more" appends the next page in place.
import { api, csrf, explain, live, say } from "/static/app.js";

const TERMINAL = new Set(["completed", "error", "cancelled", "orphaned"]);
const list = document.getElementById("files");

function row(uuid) {
  return list ? list.querySelector(`li.file[data-file="${CSS.escape(uuid)}"]`) : null;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const total = Math.floor(seconds), hours = Math.floor(total / 3600), rest = total % 3600;
  const mmss = `${Math.floor(rest / 60)}:${String(rest % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${mmss.padStart(5, "0")}` : mmss;
}

function show(item, status, progress) {
  item.dataset.status = status;
  const badge = item.querySelector('[data-role="badge"]');
  badge.textContent = status;
  badge.className = `badge status-${status}`;
  const bar = item.querySelector('[data-role="progress"]');
  if (typeof progress === "number") bar.value = progress;
  bar.hidden = TERMINAL.has(status);
}

// Events come in bursts and their status requests may answer out of order: only the newest request's answer counts.
const asked = new Map();

async function refresh(uuid) {
  const item = row(uuid);
  if (!item) return;
  const ticket = (asked.get(uuid) || 0) + 1;
  asked.set(uuid, ticket);
  try {
    const state = await api("GET", `/api/files/${uuid}/status`);
    if (asked.get(uuid) !== ticket) return;
    const finished = state.status === "completed" && item.dataset.status !== "completed";
    show(item, state.status, state.progress);
    if (finished) {
      const file = await api("GET", `/api/files/${uuid}`);
      item.querySelector('[data-role="duration"]').textContent = duration(file.duration);
    }
  } catch { /* the next event or poll tries again */ }
}

// A step of processing (live only) or an outcome (a notification): both name the file and move its bar.
function follow(event) {
  const n = event.detail;
  if (!n.file_uuid) return;
  const item = row(n.file_uuid);
  if (item && typeof n.progress === "number" && !TERMINAL.has(item.dataset.status)) {
    item.querySelector('[data-role="progress"]').value = n.progress;
  }
  refresh(n.file_uuid);
}
window.addEventListener("opentr:progress", follow);
window.addEventListener("opentr:notification", follow);

// Without the socket (a proxy that drops WebSockets), poll the files still in progress.
setInterval(() => {
  if (live.open || !list) return;
  for (const item of list.querySelectorAll("li.file")) {
    if (!TERMINAL.has(item.dataset.status)) refresh(item.dataset.file);
  }
}, 5000);
// A file may have finished between rendering and the socket opening: check once when it connects.
window.addEventListener("opentr:live", (event) => {
  if (!event.detail || !list) return;
  for (const item of list.querySelectorAll("li.file")) {
    if (!TERMINAL.has(item.dataset.status)) refresh(item.dataset.file);
  }
});

document.addEventListener("click", async (event) => {
  const more = event.target.closest('[data-role="more"]');
  if (!more || !list) return;
  event.preventDefault();
  more.setAttribute("aria-busy", "true");
  const response = await fetch(`/library/rows${new URL(more.href).search}`, { credentials: "same-origin" });
  if (response.redirected) { location.assign(response.url); return; } // the session ended: sign in again
  if (!response.ok) { more.removeAttribute("aria-busy"); return; }
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  const first = holder.content.querySelector("li.file a");
  more.closest("li").replaceWith(holder.content);
  if (first) list.querySelector(`a[href="${first.getAttribute("href")}"]`)?.focus();
});

// -- bulk actions: the checked rows, one request to POST /api/files/bulk (or /api/files/export for a zip) -----------
const bulk = document.getElementById("bulk");

function picked() {
  return [...document.querySelectorAll("li.file input.pick:checked")].map((box) => box.value);
}

function showPicked() {
  const count = document.getElementById("bulk-count");
  const n = picked().length;
  if (count) count.textContent = n ? `${n} file${n === 1 ? "" : "s"} selected.` : "Select files with their check boxes to act on several at once.";
}
document.addEventListener("change", (event) => { if (event.target.matches("input.pick")) showPicked(); });

async function downloadZip(uuids) {
  const response = await fetch("/api/files/export", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
    body: JSON.stringify({ file_uuids: uuids, format: "txt" }),
  });
  if (!response.ok) throw new Error(explain(response.status, await response.json().catch(() => null)));
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name ? name[1] : "transcripts.zip";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

if (bulk) {
  bulk.addEventListener("submit", async (event) => {
    event.preventDefault();
    const uuids = picked();
    if (!uuids.length) { say("Select at least one file first."); return; }
    const action = bulk.elements.action.value;
    if (!action) { // the list starts on no action: deleting (or any other) is never what a stray click does
      say("Choose what to do with the selected files first.");
      bulk.elements.action.focus();
      return;
    }
    const button = bulk.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (action === "export") {
        await downloadZip(uuids);
        say(`Downloading ${uuids.length} transcript${uuids.length === 1 ? "" : "s"}.`);
        return;
      }
      if (action === "delete" && !confirm(`Delete ${uuids.length} file(s) and everything about them?`)) return;
      const body = { action, file_uuids: uuids };
      if (action.endsWith("_tag")) body.tag = bulk.elements.tag.value.trim();
      if (action === "add_to_collection") body.collection_uuid = bulk.elements.collection_uuid.value || null;
      const result = await api("POST", "/api/files/bulk", body);
      const words = {
        done: "changed", unchanged: "already so", not_found: "not found", forbidden: "not allowed", conflict: "refused",
      };
      const parts = Object.entries(result.counts).map(([outcome, n]) => `${n} ${words[outcome] || outcome}`);
      sessionStorage.setItem("opentr:bulk-result", `Done: ${parts.join(", ")}.`);
      location.reload();
    } catch (error) {
      say(error.message);
    } finally {
      button.disabled = false;
    }
  });
  const last = sessionStorage.getItem("opentr:bulk-result");
  if (last) { sessionStorage.removeItem("opentr:bulk-result"); say(last); }
}
