// The file page's public links: the new link's address (shown once) is copied with one click.
const input = document.querySelector('[data-role="new-link"]');
const button = document.querySelector('[data-action="copy-link"]');

if (input && button) {
  button.hidden = false;
  input.addEventListener("focus", () => input.select());
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = "Copied";
    } catch {
      document.execCommand("copy"); // without clipboard permission: the selection, as a keyboard copy would
      button.textContent = "Copied";
    }
  });
}
