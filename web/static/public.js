// A public link's page: each segment's time button plays from there; the playing segment is highlighted.
const player = document.getElementById("player");
const segments = [...document.querySelectorAll("#transcript li.segment")];
let current = null;

function highlight() {
  const time = player.currentTime;
  const segment = segments.find((s) => Number(s.dataset.start) <= time && time < Number(s.dataset.end)) || null;
  if (segment === current) return;
  if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
  if (segment) { segment.classList.add("current"); segment.setAttribute("aria-current", "true"); }
  current = segment;
}

if (player) {
  for (const name of ["timeupdate", "seeked", "loadedmetadata"]) player.addEventListener(name, highlight);
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-seek]");
    if (!button) return;
    player.currentTime = Number(button.dataset.seek);
    player.play().catch(() => {});
  });
}
