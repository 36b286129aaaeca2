// Shared by every page: the CSRF header for fetches that change data, the live notification socket, messages.

export function csrf() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// A page opened in an admin's all-files view (?view=all) stays in it: its calls to the API carry `view=all` too,
// else they would answer 404 for another person's file (the server adds it to the page's forms likewise).
export function inView(url) {
  if (new URLSearchParams(location.search).get("view") !== "all") return url;
  const address = new URL(url, location.href);
  if (address.origin !== location.origin || address.searchParams.get("view") === "all") return url;
  address.searchParams.set("view", "all");
  return address.pathname + address.search + address.hash;
}

// A same-origin call to the JSON API with the session cookie; unsafe methods carry the CSRF token. `extra`: more
// headers (If-Match). A failure's error carries the status, the field and the whole body (a 412's `current`).
export async function api(method, url, body, extra = {}) {
  const headers = { ...extra, "X-CSRF-Token": csrf() };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(inView(url), init);
  if (response.status === 401) {
    window.location.assign(`/signin?expired=1&next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new Error("Your session has ended; sign in again.");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(explain(response.status, data));
    error.status = response.status; // and the field the API named, for a page that explains it in its own words
    error.field = data && typeof data.field === "string" ? data.field : null;
    error.data = data;
    throw error;
  }
  return data;
}

// A sentence for a person, from the API's {"detail", "field"}.
export function explain(status, data) {
  const detail = data && typeof data.detail === "string" ? data.detail : "";
  if (status === 403) return detail || "This action was refused; reload the page and try again.";
  if (status === 413) return "The file is larger than the upload limit.";
  if (status === 503) return "The server is busy or a service is down; try again in a moment.";
  if (status >= 500) return "Something went wrong on our side; try again.";
  if (!detail) return `The request failed (${status}).`;
  return detail.charAt(0).toUpperCase() + detail.slice(1) + (detail.endsWith(".") ? "" : ".");
}

let toastTimer = 0;
export function say(message) {
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.textContent = message;
  toast.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("shown"), 6000);
}

// The live socket: `window` receives an "opentr:notification" event per notification (an outcome: stored, counted as
// new), an "opentr:progress" event per step of a job (live only: {file_uuid, task_id, step, progress}), and
// "opentr:live" on (dis)connect.
export const live = { open: false };
let unread = new Set();

function showUnread() {
  const badge = document.getElementById("unread-count");
  if (badge) badge.textContent = unread.size ? `(${unread.size} new)` : "";
}

function connect(delay) {
  if (!document.querySelector("form.signout")) return; // not signed in
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/ws/notifications`);
  socket.addEventListener("open", () => {
    live.open = true;
    delay = 1000;
    window.dispatchEvent(new CustomEvent("opentr:live", { detail: true }));
  });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "progress") {
      window.dispatchEvent(new CustomEvent("opentr:progress", { detail: message.progress }));
      return;
    }
    if (message.type !== "notification") return;
    const n = message.notification;
    if (!n.read_at) unread.add(n.uuid);
    showUnread();
    window.dispatchEvent(new CustomEvent("opentr:notification", { detail: n }));
  });
  socket.addEventListener("close", (event) => {
    live.open = false;
    window.dispatchEvent(new CustomEvent("opentr:live", { detail: false }));
    if (event.code === 4401) return; // signed out elsewhere: the next page load asks to sign in
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  });
}

// Forms that ask first (deleting users, collections).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !confirm(form.dataset.confirm)) event.preventDefault();
});

connect(1000);
