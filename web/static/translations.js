// The file page's translations panel: a running translation's progress bar follows its job's live steps
// ("opentr:progress" events, app.js), and the page reloads once it has ended, showing the result.
const panel = document.getElementById("translations");

function follow(event) {
  const detail = event.detail || {};
  if (!panel || !detail.task_id) return;
  const item = panel.querySelector(`[data-task="${CSS.escape(detail.task_id)}"]`);
  if (!item) return;
  const bar = item.querySelector("[data-role=translation-progress]");
  const step = item.querySelector("[data-role=translation-step]");
  if (bar && typeof detail.progress === "number") bar.value = detail.progress;
  if (step && detail.step) step.textContent = detail.step;
  if (typeof detail.progress === "number" && detail.progress >= 1) setTimeout(() => location.reload(), 1500);
}

window.addEventListener("opentr:progress", follow);
