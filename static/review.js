// Review: live caption checks (Release waits while the caption is refused), the preview for the
// chosen account, pupil search, tap a face box, the batch release's preview, keyboard shortcuts.
(function () {
  "use strict";
  const CHECK_DELAY_MS = 300;

  function stopIcon() {
    const icon = document.createElement("span");
    icon.className = "icon-stop";
    icon.setAttribute("aria-hidden", "true");
    return icon;
  }

  function captionChecks(form) {
    const caption = form.querySelector(".caption-input");
    if (!caption) return;  // a batch form with no photo ready has no release fields
    const feedback = form.querySelector(".caption-feedback");
    const submit = form.querySelector("button[type=submit]");
    const token = form.querySelector("[name=csrf_token]").value;
    let timer = null, sent = 0;
    function show(result) {
      feedback.replaceChildren();
      result.errors.forEach(function (e) {
        const line = document.createElement("span");
        line.className = "d-block";
        line.append(stopIcon(), " " + e);
        feedback.append(line);
      });
      result.warnings.forEach(function (w) { feedback.append(Object.assign(document.createElement("span"), { className: "d-block", textContent: "⚠ " + w })); });
      if (!result.errors.length && !result.warnings.length && caption.value) feedback.textContent = "✔ " + form.dataset.ok;
      feedback.className = "caption-feedback small fw-semibold " +
        (result.errors.length ? "text-danger" : result.warnings.length ? "text-warning-emphasis" : "text-success");
      caption.setAttribute("aria-invalid", result.errors.length ? "true" : "false");
      submit.disabled = result.errors.length > 0;  // the server would refuse it anyway
    }
    async function check() {
      const mine = ++sent;
      const body = new FormData();
      body.append("caption", caption.value);
      body.append("csrf_token", token);
      const response = await fetch(form.dataset.checkUrl, { method: "POST", body: body });
      if (!response.ok || mine !== sent) return;  // a later check is on its way
      show(await response.json());
    }
    caption.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, CHECK_DELAY_MS); });
    if (caption.value) check();  // typed (or kept from a refused release) before this script ran
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
    if (input.value) search();  // typed before this script arrived (a slow iPad on busy Wi-Fi)
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

  // A batch: only photos ready for the chosen account's purpose may be ticked; "tick every ready
  // photo"; and a strip of exactly what will be posted, with the count and the account.
  function batchRelease(form) {
    const select = form.querySelector(".account-select");
    if (!select) return;
    const picks = Array.from(form.querySelectorAll("input.pick"));
    const strip = form.querySelector(".bulk-preview-strip");
    const text = form.querySelector(".bulk-preview-text");
    function purpose() { return select.selectedOptions[0].dataset.purpose; }
    function update() {
      const chosen = [];
      picks.forEach(function (pick) {
        pick.disabled = pick.dataset.purposes.split(" ").indexOf(purpose()) < 0;
        if (pick.disabled) pick.checked = false;
        if (pick.checked) chosen.push(pick);
      });
      strip.replaceChildren();
      chosen.forEach(function (pick) {
        const img = document.createElement("img");
        img.className = "bulk-thumb";
        img.src = pick.dataset.thumb;
        img.alt = pick.labels[0].textContent;
        strip.append(img);
      });
      text.textContent = form.dataset.previewText.replace("{n}", chosen.length)
        .replace("{account}", select.selectedOptions[0].textContent);
    }
    form.querySelector(".tick-all").addEventListener("click", function () {
      picks.forEach(function (pick) { if (!pick.disabled) pick.checked = true; });
      update();
    });
    picks.forEach(function (pick) { pick.addEventListener("change", update); });
    select.addEventListener("change", update);
    update();
  }

  // Keys, as the page says: n/p photos, f the next face (or group), 1/2/3 the three answers, r
  // release. Never while typing, never with a modifier (the browser's own shortcuts), and never
  // once turned off ("Single-key shortcuts"; speech input types words), which this browser keeps.
  const SHORTCUTS_KEY = "gatekeeper.review.shortcuts";
  function shortcutsOn() { return localStorage.getItem(SHORTCUTS_KEY) !== "off"; }
  function shortcutSwitch() {
    const box = document.getElementById("use-shortcuts");
    if (!box) return;
    box.checked = shortcutsOn();
    box.addEventListener("change", function () { localStorage.setItem(SHORTCUTS_KEY, box.checked ? "on" : "off"); });
  }

  function shortcuts() {
    const items = Array.from(document.querySelectorAll(".face-item, .face-group"));
    function typing(target) {
      return target.closest("input, textarea, select, [contenteditable]") !== null;
    }
    function current() {
      const active = document.activeElement && document.activeElement.closest(".face-item, .face-group");
      const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
      return active || (items.indexOf(target) >= 0 ? target : null) || waiting()[0] || items[0];
    }
    function waiting() {
      return items.filter(function (i) { return !i.dataset.outcome || ["unknown", "blocked"].indexOf(i.dataset.outcome) >= 0; });
    }
    function focusItem(item) {
      item.scrollIntoView({ block: "center" });
      item.focus({ preventScroll: true });
    }
    function nextItem() {
      const pool = waiting().length ? waiting() : items;
      const at = pool.indexOf(current());
      if (pool.length) focusItem(pool[(at + 1) % pool.length]);
    }
    function answer(key) {
      const item = current();
      const button = item && item.querySelector("button[data-key='" + key + "']");
      if (!button) return;
      const select = item.querySelector("select[name=pupil_id]");
      if (key === "1" && select && !select.value) {  // say which pupil first
        item.querySelector(".pupil-search").focus();
        return;
      }
      button.click();
    }
    function go(id) { const link = document.getElementById(id); if (link) link.click(); }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || !shortcutsOn()) return;
      const release = document.getElementById("release");
      const actions = {
        n: function () { go("next-photo"); }, p: function () { go("previous-photo"); },
        f: nextItem, "1": function () { answer("1"); }, "2": function () { answer("2"); },
        "3": function () { answer("3"); },
        r: function () { if (release && !release.disabled) release.form.requestSubmit(release); },
      };
      const action = actions[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    });
    const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (items.indexOf(target) >= 0) target.focus({ preventScroll: true });
  }

  document.querySelectorAll(".release-form").forEach(captionChecks);
  document.querySelectorAll(".bulk-form").forEach(batchRelease);
  document.querySelectorAll(".pupil-search").forEach(pupilSearch);
  previewFollowsAccount();
  faceLinks();
  shortcutSwitch();
  shortcuts();
})();
