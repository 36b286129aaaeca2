// Upload: drag and drop or choose several files; each goes up on its own request with its own progress bar.
import { api, csrf, explain } from "/static/app.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("files");
const drop = document.getElementById("drop");
const list = document.getElementById("uploads");

for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
for (const name of ["dragleave", "drop"]) {
  drop.addEventListener(name, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer && event.dataTransfer.files.length) {
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change"));
  }
});

function entry(file) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.className = "name";
  label.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload progress of ${file.name}`);
  const state = document.createElement("span");
  state.className = "state";
  state.setAttribute("role", "status");
  state.textContent = "waiting";
  item.append(label, bar, state);
  list.append(item);
  return { item, bar, state, name: file.name };
}

// A refused upload must not look like a finished one: the bar turns red (app.css, li.failed) and says so to
// assistive technology; the reason is written next to it.
function refused(view) {
  view.item.classList.add("failed");
  view.bar.value = 1;
  view.bar.setAttribute("aria-label", `Upload of ${view.name} refused`);
  view.bar.setAttribute("aria-invalid", "true");
}

// The processing choices: each goes even when empty (no vocabulary, your active prompt), unlike a speaker count.
const CHOICES = ["model", "language", "task", "vocabulary", "diarization", "summary", "summary_prompt"];

function send(file, transcript, fields, view) {
  const data = new FormData();
  data.append("file", file);
  if (transcript) data.append("transcript", transcript);
  // A processing choice goes even when empty (no vocabulary, no prompt); an empty speaker count is no hint.
  for (const [name, value] of Object.entries(fields)) if (value || CHOICES.includes(name)) data.append(name, value);
  const request = new XMLHttpRequest();
  request.open("POST", "/api/files");
  request.setRequestHeader("X-CSRF-Token", csrf());
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) view.bar.value = event.loaded / event.total;
    view.state.textContent = "uploading";
  });
  request.addEventListener("load", () => {
    let body = null;
    try { body = JSON.parse(request.responseText); } catch { /* not JSON: explained by status */ }
    if (request.status === 201 && body) {
      view.bar.value = 1;
      view.item.classList.add("done");
      view.state.textContent = "";
      const link = document.createElement("a");
      link.href = `/files/${body.uuid}`;
      link.textContent = "uploaded; processing — open it";
      view.state.append(link);
    } else if (request.status === 401) {
      refused(view);
      view.state.innerHTML = 'Your session has ended. <a href="/signin?next=/upload">Sign in again</a> and upload once more.';
    } else {
      refused(view);
      view.state.textContent = `Not uploaded: ${explain(request.status, body)} `;
      if (request.status === 409 && body && typeof body.existing_url === "string") {
        const link = document.createElement("a"); // the same recording is already there: lead to it
        link.href = body.existing_url;
        link.textContent = "Open the file already uploaded";
        view.state.append(link);
      }
    }
  });
  request.addEventListener("error", () => {
    refused(view);
    view.state.textContent = "Not uploaded: the connection to the server was lost. Check it and try again.";
  });
  request.send(data);
}

// The form's choices (processing choices, speaker hints) as they stand, sent with each recording.
function choices() {
  const fields = {};
  for (const name of [...CHOICES, "num_speakers", "min_speakers", "max_speakers"]) {
    fields[name] = document.getElementById(name).value.trim();
  }
  return fields;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const files = [...input.files];
  if (!files.length) { input.focus(); return; }
  const sidecar = document.getElementById("transcript").files[0];
  const fields = choices();
  for (const file of files) send(file, files.length === 1 ? sidecar : null, fields, entry(file));
  form.reset();
});

// A recording made on this page (record.js) goes up like a chosen file: same route, same progress bar.
export function uploadFile(file) {
  send(file, null, choices(), entry(file));
}

// -- import from a URL: the server downloads it in the background; its progress is polled until it is a file --------
const urlForm = document.getElementById("url-form");

async function follow(job, view) {
  for (;;) {
    view.bar.value = job.progress;
    if (job.status === "completed" && job.file_uuid) {
      view.bar.value = 1;
      view.item.classList.add("done");
      view.state.textContent = "";
      const link = document.createElement("a");
      link.href = `/files/${job.file_uuid}`;
      link.textContent = "imported; processing — open it";
      view.state.append(link);
      return;
    }
    if (job.status === "failed") {
      view.item.classList.add("failed");
      view.state.textContent = `Not imported: ${job.error_message || "the download failed."}`;
      return;
    }
    view.state.textContent = job.status;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = await api("GET", `/api/files/from-url/${job.uuid}`);
  }
}

urlForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = urlForm.elements.url.value.trim();
  const view = entry({ name: url });
  try {
    const job = await api("POST", "/api/files/from-url", { url });
    urlForm.reset();
    await follow(job, view);
  } catch (error) {
    view.item.classList.add("failed");
    view.state.textContent = `Not imported: ${error.message}`;
  }
});
