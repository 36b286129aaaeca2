// The Ask box (file page, collection page, /ask): POST /api/ask, then the answer streams in as server-sent events
// (`passages`, `delta`…, `done` or `error`) read with fetch + ReadableStream. Once done, each [n] of the answer links to
// the moment it cites (/files/<uuid>?t=<seconds>). Everything from the server is written as text, never as HTML.
import { csrf, explain, inView } from "/static/app.js";

const CITATION = /\[(\s*\d{1,4}(?:\s*[,;]\s*\d{1,4})*\s*)\]/g;

function clock(seconds) {
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

function momentOf(citation) {
  return inView(`/files/${citation.file_uuid}?t=${citation.start_time}`);
}

// The answer's text with each cited number a link to its moment; numbers that cite nothing stay as they were written.
function linked(answer, citations) {
  const byNumber = new Map(citations.map((c) => [c.number, c]));
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of answer.matchAll(CITATION)) {
    fragment.append(answer.slice(last, match.index));
    const numbers = match[1].split(/[,;]/).map((n) => Number(n.trim()));
    if (!numbers.some((n) => byNumber.has(n))) {
      fragment.append(match[0]);
    } else {
      fragment.append("[");
      numbers.forEach((n, i) => {
        if (i) fragment.append(", ");
        const citation = byNumber.get(n);
        if (!citation) { fragment.append(String(n)); return; }
        const link = document.createElement("a");
        link.href = momentOf(citation);
        link.textContent = String(n);
        link.title = `${citation.title} · ${clock(citation.start_time)}`;
        fragment.append(link);
      });
      fragment.append("]");
    }
    last = match.index + match[0].length;
  }
  fragment.append(answer.slice(last));
  return fragment;
}

function listCitations(list, citations) {
  list.replaceChildren(...citations.map((c) => {
    const item = document.createElement("li");
    item.value = c.number;
    const link = document.createElement("a");
    link.href = momentOf(c);
    link.textContent = `${c.title} · ${clock(c.start_time)}`;
    const quote = document.createElement("q");
    quote.textContent = c.text;
    item.append(link, " ", quote);
    return item;
  }));
}

// Server-sent events from a fetch body: yields {event, data} as each one is complete.
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      try { yield { event, data: JSON.parse(data) }; } catch { /* not one of ours: skipped */ }
    }
    if (done) return;
  }
}

for (const form of document.querySelectorAll("form.ask-form")) {
  const box = form.closest("section");
  const problem = box.querySelector('[data-role="ask-problem"]');
  const panel = box.querySelector('[data-role="ask-answer"]');
  const text = box.querySelector('[data-role="answer-text"]');
  const list = box.querySelector('[data-role="citations"]');
  const button = form.querySelector('button[type="submit"]');

  function fail(message) {
    problem.textContent = message;
    problem.hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = form.elements.question.value.trim();
    if (!question) { form.elements.question.focus(); return; }
    const body = { question, stream: true };
    if (form.dataset.file) body.file_uuid = form.dataset.file;
    if (form.dataset.collection) body.collection_uuid = form.dataset.collection;
    problem.hidden = true;
    panel.hidden = false;
    text.textContent = "Looking for the passages that answer this…";
    list.replaceChildren();
    button.disabled = true;
    try {
      const response = await fetch(inView(form.dataset.askApi), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRF-Token": csrf() },
        body: JSON.stringify(body),
      });
      if (response.status === 401) {
        window.location.assign(`/signin?expired=1&next=${encodeURIComponent(location.pathname + location.search)}`);
        return;
      }
      if (!response.ok) {
        panel.hidden = true;
        fail(explain(response.status, await response.json().catch(() => null)));
        return;
      }
      let answer = "";
      let finished = false;
      for await (const { event: name, data } of readEvents(response.body)) {
        if (name === "passages") {
          text.textContent = "";
        } else if (name === "delta") {
          answer += data.text;
          text.textContent = answer;
        } else if (name === "done") {
          finished = true;
          text.replaceChildren(linked(data.question.answer, data.question.citations));
          listCitations(list, data.question.citations);
        } else if (name === "error") {
          finished = true;
          fail(`The answer broke off: ${explain(data.status, data)}`);
        }
      }
      if (!finished) fail("The answer broke off: the connection to the server was lost. Ask again.");
    } catch {
      fail("Not answered: the connection to the server was lost. Check it and ask again.");
    } finally {
      button.disabled = false;
    }
  });
}
