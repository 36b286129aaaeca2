// The file page's topics panel (templates/_topics.html): a moment's link seeks the player (player.js handles every
// [data-seek]; the link's ?t= address is for a page without scripts), and a run in progress shows its progress
// live, the page reloading once the run has ended.
const section = document.getElementById("topics");
const busy = ["pending", "processing"];

document.addEventListener("click", (event) => {
  const link = event.target.closest("#topics a[data-seek]");
  if (link && document.getElementById("player")) event.preventDefault();
});

window.addEventListener("opentr:progress", (event) => {
  const n = event.detail;
  if (!section || !n || n.task_id !== section.dataset.task || !busy.includes(section.dataset.runStatus)) return;
  const bar = section.querySelector('[data-role="topics-progress"]');
  if (bar && typeof n.progress === "number") bar.value = n.progress;
  const step = section.querySelector('[data-role="topics-step"]');
  if (step && typeof n.step === "string") step.textContent = n.step;
});

// The run's outcome (its topics, or why it failed) is a notification of its task: the page shows it on a reload.
window.addEventListener("opentr:notification", (event) => {
  const n = event.detail;
  if (!section || !n || n.task_id !== section.dataset.task || !busy.includes(section.dataset.runStatus)) return;
  if (n.progress === null) location.reload();
});
