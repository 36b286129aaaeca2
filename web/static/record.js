// Record in the browser: the microphone through MediaRecorder, with a level meter (Web Audio's AnalyserNode) and a
// timer; Stop hands the recording to upload.js, which sends it like a chosen file (same route, same progress bar).
import { uploadFile } from "/static/upload.js";

const panel = document.getElementById("recorder");
const start = document.getElementById("record-start");
const stop = document.getElementById("record-stop");
const time = document.getElementById("record-time");
const level = document.getElementById("record-level");
const message = document.getElementById("record-message");

// WebM/Opus is what Chromium and Firefox record; Safari records MP4. The server reads them all by their content.
const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };

let session = null; // {recorder, stream, chunks, audio, started, ticker}

function say(text, problem = false) {
  message.textContent = text;
  message.classList.toggle("error", problem);
}

function clock(ms) {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

// "Recording 2026-12-07 14-03.webm": the local time it started, no characters a file system refuses.
function nameFor(started, type) {
  const d = new Date(started);
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}-${pad(d.getMinutes())}`;
  return `Recording ${stamp}.${EXTENSIONS[type] || "webm"}`;
}

function refusal(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "The microphone was refused. Allow this site to use it (the icon in the address bar shows the permission) and press Record again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Connect one and press Record again.";
  }
  if (name === "NotReadableError") {
    return "The microphone is in use by another program or cannot be read. Close that program and press Record again.";
  }
  return `The microphone could not be opened${error && error.message ? ` (${error.message})` : ""}.`;
}

// The level meter: the loudest sample of the last few milliseconds, 10 times a second (no animation loop, so a
// hidden tab costs nothing).
function meter(stream) {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  const context = new Context();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s));
    level.value = Math.min(1, peak);
  }, 100);
  return { context, timer };
}

function release() {
  if (!session) return;
  clearInterval(session.ticker);
  if (session.audio) {
    clearInterval(session.audio.timer);
    session.audio.context.close();
  }
  for (const track of session.stream.getTracks()) track.stop();
  level.value = 0;
  panel.classList.remove("recording");
  start.disabled = false;
  stop.disabled = true;
}

async function record() {
  start.disabled = true;
  say("Asking for the microphone…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    start.disabled = false;
    say(refusal(error), true);
    return;
  }
  const type = TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || "";
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  const started = Date.now();
  session = { recorder, stream, chunks, started, audio: meter(stream), ticker: 0 };
  recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
  recorder.addEventListener("stop", () => finish(session));
  recorder.start(1000); // a chunk a second: a long recording is not one growing buffer
  session.ticker = setInterval(() => { time.textContent = clock(Date.now() - started); }, 250);
  time.textContent = "0:00";
  panel.classList.add("recording");
  stop.disabled = false;
  stop.focus();
  say("Recording. Press “Stop and upload” when you are done.");
}

function finish(ended) {
  const type = (ended.recorder.mimeType || "audio/webm").split(";")[0];
  const blob = new Blob(ended.chunks, { type });
  release();
  session = null;
  if (!blob.size) {
    say("Nothing was recorded: the microphone gave no sound. Check it and try again.", true);
    return;
  }
  const file = new File([blob], nameFor(ended.started, type), { type });
  say(`Recorded ${clock(Date.now() - ended.started)}; uploading “${file.name}” below.`);
  uploadFile(file);
}

if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
  start.disabled = true;
  say(
    window.isSecureContext === false
      ? "Recording needs a secure connection (https): the browser offers no microphone to this page."
      : "This browser cannot record audio (it has no MediaRecorder). Record with another app and upload the file.",
    true,
  );
} else {
  start.addEventListener("click", record);
  stop.addEventListener("click", () => {
    if (session && session.recorder.state !== "inactive") {
      stop.disabled = true;
      session.recorder.stop();
    }
  });
}
