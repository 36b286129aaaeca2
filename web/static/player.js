// The file page: the playing segment is highlighted and kept in view; segments, words, comments and the waveform
// seek; segments are edited in place through the API; processing, retry, delete and summaries update live.
import { api, say } from "/static/app.js";

const page = document.getElementById("file");
const fileUuid = page.dataset.file;
const player = document.getElementById("player");
const transcript = document.getElementById("transcript");
const segments = transcript ? [...transcript.querySelectorAll("li.segment")] : [];
const canvas = document.getElementById("waveform");
let current = null;
let peaks = [];

function segmentAt(time) {
  // Segments come in time order: the last one starting at or before `time` that has not ended.
  let low = 0, high = segments.length - 1, found = null;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (Number(segments[mid].dataset.start) <= time) { found = segments[mid]; low = mid + 1; } else high = mid - 1;
  }
  return found && time < Number(found.dataset.end) ? found : null;
}

function inView(element) {
  const box = element.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight;
}

function highlight() {
  const segment = segmentAt(player.currentTime);
  if (segment !== current) {
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    if (segment) {
      segment.classList.add("current");
      segment.setAttribute("aria-current", "true");
      if (!inView(segment) && !segment.contains(document.activeElement)) {
        segment.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    }
    current = segment;
  }
  drawWaveform();
}

function seek(time, play) {
  const apply = () => {
    player.currentTime = time;
    highlight();
    if (play) player.play().catch(() => {});
  };
  if (player.readyState >= 1) apply(); else player.addEventListener("loadedmetadata", apply, { once: true });
}

if (player) {
  for (const name of ["timeupdate", "seeked", "play", "pause", "loadedmetadata"]) player.addEventListener(name, highlight);
  const tick = () => { if (!player.paused) { highlight(); requestAnimationFrame(tick); } };
  player.addEventListener("play", () => requestAnimationFrame(tick));
  highlight(); // the metadata may have loaded before this module ran, so no event would mark the first segment
  if (page.dataset.start) {
    seek(Number(page.dataset.start), false);
    const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target) target.querySelector(".seek")?.focus({ preventScroll: false });
  }
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-seek]");
  if (target && player) { seek(Number(target.dataset.seek), true); return; }
  const text = event.target.closest(".segment .text");
  if (text && player && !window.getSelection().toString()) seek(Number(text.closest(".segment").dataset.start), true);
});

document.addEventListener("keydown", (event) => {
  if (!player || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key === "k") { event.preventDefault(); if (player.paused) player.play().catch(() => {}); else player.pause(); }
  if (event.key === "j") { event.preventDefault(); seek(Math.max(0, player.currentTime - 5), false); }
  if (event.key === "l") { event.preventDefault(); seek(player.currentTime + 5, false); }
});

// -- waveform ------------------------------------------------------------------------------------------------
function drawWaveform() {
  if (!canvas || !peaks.length) return;
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const played = player && player.duration ? player.currentTime / player.duration : 0;
  context.clearRect(0, 0, width, height);
  const step = width / peaks.length;
  peaks.forEach((peak, index) => {
    const x = index * step;
    const bar = Math.max(1, peak * height);
    context.fillStyle = x / width <= played ? "#1d4ed8" : "#94a3b8";
    context.fillRect(x, (height - bar) / 2, Math.max(1, step - 0.5), bar);
  });
}

if (canvas) {
  api("GET", `/api/files/${fileUuid}/waveform`).then((data) => {
    const raw = data.waveform_data;
    const values = Array.isArray(raw) ? raw : (raw && Array.isArray(raw.peaks) ? raw.peaks : []);
    const loudest = Math.max(...values, 0.01); // scaled to the loudest moment, so quiet recordings still show
    peaks = values.map((value) => value / loudest);
    drawWaveform();
  }).catch(() => canvas.remove());
  canvas.addEventListener("click", (event) => {
    if (!player || !player.duration) return;
    const box = canvas.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * player.duration, true);
  });
}

// -- inline segment edits ------------------------------------------------------------------------------------
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.id === "comment-form" && player) {
    form.elements.timestamp.value = player.currentTime.toFixed(2);
    return; // a plain form post
  }
  if (!form.dataset.api) return;
  event.preventDefault();
  const segment = form.closest("li.segment");
  const body = { text: form.elements.text.value.trim(), speaker_uuid: form.elements.speaker_uuid.value || null };
  const button = form.querySelector("button[type=submit]");
  const conflict = segment.querySelector('[data-role="conflict"]');
  button.disabled = true;
  try {
    // If-Match: the version this page showed; someone else's edit since then is not overwritten (412).
    const saved = await api("PUT", form.dataset.api, body, { "If-Match": `"v${form.dataset.version}"` });
    showSegment(form, segment, saved);
    if (conflict) conflict.hidden = true;
    form.closest("details").open = false;
    form.closest("details").querySelector("summary").focus();
    say("Segment saved.");
  } catch (error) {
    if (error.status === 412 && error.data && error.data.current) {
      // Their version replaces the shown text (and is what the next save starts from); the person's own text stays
      // in view, in the message, to redo it.
      showSegment(form, segment, error.data.current);
      form.elements.text.value = error.data.current.text;
      if (conflict) {
        conflict.textContent = "Someone else changed this segment; here is their version — your text was not saved: ";
        const unsaved = document.createElement("q");
        unsaved.dataset.role = "unsaved";
        unsaved.textContent = body.text;
        conflict.append(unsaved);
        conflict.hidden = false;
      }
      say("Someone else changed this segment; your text was not saved.");
    } else {
      say(`Not saved: ${error.message}`);
    }
  } finally {
    button.disabled = false;
  }
});

// A segment as the API returned it: its text, speaker, colour and the version the next edit starts from.
function showSegment(form, segment, saved) {
  segment.querySelector('[data-role="text"]').textContent = saved.text;
  segment.querySelector('[data-role="speaker-name"]').textContent = saved.speaker_name || saved.speaker_label || "Unknown";
  segment.dataset.speaker = saved.speaker_uuid || "";
  const colour = document.querySelector(`#speakers input[id="name-${saved.speaker_uuid}"]`)?.closest("li")?.className;
  if (colour) segment.className = `segment ${colour}${segment === current ? " current" : ""}`;
  form.dataset.version = String(saved.version);
  form.elements.version.value = String(saved.version);
}

// -- actions through the API ---------------------------------------------------------------------------------
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  try {
    if (action === "retry") {
      await api("POST", `/api/files/${fileUuid}/retry`);
      location.reload();
    } else if (action === "delete") {
      if (!confirm("Delete this file, its transcript and everything about it?")) return;
      await api("DELETE", `/api/files/${fileUuid}`);
      location.assign("/");
    } else if (action === "summarise") {
      // The chosen prompt and language; left empty, the API's defaults (the active prompt, the transcript's language).
      const form = document.getElementById("summary-request");
      const body = {};
      for (const name of ["prompt_uuid", "language"]) {
        const value = form?.elements[name]?.value;
        if (value) body[name] = value;
      }
      button.disabled = true;
      await api("POST", `/api/files/${fileUuid}/summaries`, body);
      say("Summary requested; it appears here when it is ready.");
      location.reload();
    } else if (action === "cancel-summary") {
      button.disabled = true;
      const summary = await api("POST", `/api/summaries/${button.dataset.summary}/cancel`);
      say(summary.status === "cancelled" ? "Summary cancelled." : "Stopping the summary…");
      location.reload();
    }
  } catch (error) {
    button.disabled = false;
    if (action === "summarise" && error.field === "llm_config_uuid") {
      noLanguageModel();
      return;
    }
    say(error.message);
  }
});

// The API names the missing field (llm_config_uuid); a person is told what to set up, and where.
function noLanguageModel() {
  const problem = document.getElementById("summary-problem");
  problem.replaceChildren(
    "Summaries are written by a language model (LLM), and none is set up for you yet. Add one in ",
    Object.assign(document.createElement("a"), { href: "/settings#llm", textContent: "Settings" }),
    " (and make it active), then request the summary again.",
  );
  problem.hidden = false;
  problem.querySelector("a").focus();
}

let statusAsked = 0;
async function follow(event) {
  const n = event.detail;
  if (n.file_uuid !== fileUuid) return;
  // A finished summary shows on a reload; remember which did, as the socket replays unread ones on every load.
  const seen = new Set(JSON.parse(sessionStorage.getItem("opentr:reloaded-for") || "[]"));
  if (n.kind === "summary" && n.progress === null && !seen.has(n.uuid)) {
    seen.add(n.uuid);
    sessionStorage.setItem("opentr:reloaded-for", JSON.stringify([...seen].slice(-50)));
    if (Date.now() - new Date(n.created_at).getTime() < 120000) location.reload();
    return;
  }
  if (!["pending", "queued", "processing", "cancelling"].includes(page.dataset.status)) return;
  const bar = document.querySelector('[data-role="progress"]');
  if (bar && typeof n.progress === "number") bar.value = n.progress;
  const step = document.querySelector('[data-role="step"]');
  if (step && typeof n.step === "string") step.textContent = n.step.charAt(0).toUpperCase() + n.step.slice(1);
  const ticket = ++statusAsked; // answers may arrive out of order: only the newest counts
  const state = await api("GET", `/api/files/${fileUuid}/status`).catch(() => null);
  if (ticket !== statusAsked) return;
  if (state && state.status !== page.dataset.status && ["completed", "error", "cancelled"].includes(state.status)) {
    location.reload();
  }
}
window.addEventListener("opentr:progress", follow);
window.addEventListener("opentr:notification", follow);
