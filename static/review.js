// Live caption checks on the release form: names block, first names and addresses warn.
(function () {
  "use strict";
  const form = document.getElementById("release-form");
  if (!form) return;
  const caption = document.getElementById("caption");
  const feedback = document.getElementById("caption-feedback");
  let timer = null;
  async function check() {
    const body = new FormData();
    body.append("caption", caption.value);
    body.append("csrf_token", form.querySelector("[name=csrf_token]").value);
    const response = await fetch(form.dataset.checkUrl, { method: "POST", body: body });
    if (!response.ok) return;
    const result = await response.json();
    feedback.textContent = result.errors.concat(result.warnings).join("; ");
    feedback.className = "small " + (result.errors.length ? "text-danger" : result.warnings.length ? "text-warning-emphasis" : "text-success");
    if (!result.errors.length && !result.warnings.length && caption.value) feedback.textContent = "Caption OK";
  }
  caption.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 300); });
})();
