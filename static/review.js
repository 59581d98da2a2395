// Review: live caption checks, the preview for the chosen account, pupil search, tap a face box.
(function () {
  "use strict";
  const CHECK_DELAY_MS = 300;

  function captionChecks(form) {
    const caption = form.querySelector(".caption-input");
    const feedback = form.querySelector(".caption-feedback");
    const token = form.querySelector("[name=csrf_token]").value;
    let timer = null, sent = 0;
    async function check() {
      const mine = ++sent;
      const body = new FormData();
      body.append("caption", caption.value);
      body.append("csrf_token", token);
      const response = await fetch(form.dataset.checkUrl, { method: "POST", body: body });
      if (!response.ok || mine !== sent) return;  // a later check is on its way
      const result = await response.json();
      const problems = result.errors.map(function (e) { return "⛔ " + e; })
        .concat(result.warnings.map(function (w) { return "⚠ " + w; }));
      feedback.textContent = problems.length ? problems.join("; ") : (caption.value ? "✔ " + form.dataset.ok : "");
      feedback.className = "caption-feedback small fw-semibold " +
        (result.errors.length ? "text-danger" : result.warnings.length ? "text-warning-emphasis" : "text-success");
      caption.setAttribute("aria-invalid", result.errors.length ? "true" : "false");
    }
    caption.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, CHECK_DELAY_MS); });
    if (caption.value) check();  // typed (or restored by the browser) before this script ran
  }

  function previewFollowsAccount() {
    const preview = document.getElementById("preview");
    const select = document.querySelector(".release-form .account-select");
    if (!preview || !select) return;
    select.addEventListener("change", function () {
      preview.src = preview.dataset.base + "?account=" + encodeURIComponent(select.value);
    });
  }

  function pupilSearch(input) {
    const select = document.getElementById(input.dataset.target);
    let timer = null;
    async function search() {
      const response = await fetch(input.dataset.url + "?q=" + encodeURIComponent(input.value));
      if (!response.ok) return;
      const body = await response.json();
      const first = select.options[0];
      select.replaceChildren(first);
      body.pupils.forEach(function (p) { select.add(new Option(p.name + " (" + p.year + ")", p.id)); });
      if (body.pupils.length === 1) select.value = String(body.pupils[0].id);
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, CHECK_DELAY_MS); });
  }

  function faceLinks() {
    document.querySelectorAll(".face-link").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        const item = document.getElementById("face-" + link.dataset.face);
        item.scrollIntoView({ block: "center" });
        const control = item.querySelector("input[type=search], button") || item;
        control.focus({ preventScroll: true });
      });
    });
  }

  document.querySelectorAll(".release-form").forEach(captionChecks);
  document.querySelectorAll(".pupil-search").forEach(pupilSearch);
  previewFollowsAccount();
  faceLinks();
})();
