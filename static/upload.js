// Staff upload: one request per photo (progress per file and for the batch), then live status.
// Files go straight from the device to the server one at a time: nothing holds the whole batch.
(function () {
  "use strict";
  const app = document.getElementById("upload-app");
  if (!app) return;
  const text = JSON.parse(app.dataset.i18n);
  const csrf = app.dataset.csrf;
  const list = document.getElementById("uploads");
  const eventSelect = document.getElementById("event");
  const batchBar = document.getElementById("batch-progress");
  const batchText = document.getElementById("batch-text");
  const CONCURRENT = 2;
  const POLL_MS = 2000;
  const EVENT_KEY = "gatekeeper.upload.event";
  let inFlight = 0;
  let currentBatch = null;  // the batch whose line the page shows (the latest)

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  // The card's markup (and its words, in the page's language) is the page's <template>.
  const cardTemplate = document.getElementById("upload-card");

  function card(name) {
    const li = cardTemplate.content.firstElementChild.cloneNode(true);
    li.querySelector(".name").textContent = name;
    li.querySelector(".file-progress").setAttribute("aria-label", name);
    list.prepend(li);
    const empty = document.getElementById("no-uploads");
    if (empty) empty.remove();
    return li;
  }

  // A screen reader hears each verdict once, when it arrives: "obama_podium.jpg: Cleared".
  const verdicts = document.getElementById("verdicts");
  function say(name, words) {
    verdicts.append(el("p", null, name + ": " + words.filter(Boolean).join(". ")));
  }

  function showStatus(li, photo) {
    li.dataset.photoId = photo.id;
    li.dataset.status = photo.status;
    li.toggleAttribute("data-waiting", photo.waiting);
    const badge = li.querySelector(".status");
    const was = badge.textContent;
    badge.className = "badge status status-" + photo.status;
    badge.textContent = photo.label;
    if (!photo.waiting && photo.label !== was) say(photo.filename, [photo.label, photo.error]);
    li.querySelector(".error").textContent = photo.error || "";
    const remove = li.querySelector(".delete-upload");
    remove.action = app.dataset.deleteUrl.replace("/0/", "/" + photo.id + "/");
    remove.querySelector("button").setAttribute("aria-label", fill(text.deleteName, { name: photo.filename }));
    remove.hidden = photo.released;
    li.querySelector(".released-note").hidden = !photo.released;
    if (!li.querySelector("img") && photo.thumb && photo.status !== "rejected") {
      const img = el("img", "card-img-top thumb");
      img.alt = photo.filename;
      img.src = photo.thumb;
      li.querySelector(".card").prepend(img);
    }
  }

  function send(file, li, onProgress, batch) {
    return new Promise(function (resolve) {
      const form = new FormData();
      form.append("event_id", eventSelect.value);
      form.append("photo", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", app.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      inFlight++;
      xhr.onloadend = function () { inFlight--; };
      xhr.onload = function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 201) { onProgress(1); showStatus(li, body); schedulePoll(); resolve(true); }
        else if (body.photo) { onProgress(1); alreadyThere(li, body); resolve(true); }
        else { fail(li, file, body.error || fill(text.failed, { code: xhr.status }), batch); resolve(false); }
      };
      xhr.onerror = function () { fail(li, file, text.network, batch); resolve(false); };
      xhr.send(form);
    });
  }

  // The file is on the server already (picked again, or Retry after an answer lost on the way):
  // the card becomes that photo's, with the server's words, and an older card of it goes.
  function alreadyThere(li, body) {
    const older = list.querySelector('[data-photo-id="' + body.photo.id + '"]');
    if (older && older !== li) older.remove();
    showStatus(li, body.photo);
    li.querySelector(".error").textContent = body.error;
    schedulePoll();
  }

  // A failed file keeps its place in its batch: a retry that succeeds moves it from the batch's
  // failed count to its uploaded count.
  function fail(li, file, message, batch) {
    const badge = li.querySelector(".status");
    badge.className = "badge status status-rejected";
    badge.textContent = text.notUploaded;
    li.querySelector(".error").textContent = message;
    say(file.name, [text.notUploaded, message]);
    if (li.querySelector(".retry")) return;
    const retry = el("button", "btn btn-outline-primary retry mt-1 w-100", text.retry);
    retry.type = "button";
    retry.addEventListener("click", function () {
      retry.remove();
      li.querySelector(".error").textContent = "";
      badge.className = "badge status status-uploading";
      badge.textContent = text.uploading;
      send(file, li, function (f) { li.querySelector(".file-progress").value = f * 100; }, batch)
        .then(function (ok) { if (ok) batch.retried(); });
    });
    li.querySelector(".card-body").append(retry);
  }

  async function uploadAll(files) {
    const sizes = files.map(function (f) { return f.size || 1; });
    const total = sizes.reduce(function (a, b) { return a + b; }, 0);
    const sent = new Array(files.length).fill(0);
    let done = 0, failed = 0, next = 0;
    const batch = { retried: function () { done++; failed--; update(); } };
    currentBatch = batch;
    // A retry of an earlier batch's file keeps that batch's count, and leaves this line alone.
    function update() {
      if (currentBatch !== batch) return;
      const bytes = sent.reduce(function (a, b) { return a + b; }, 0);
      batchBar.value = Math.round((bytes / total) * 100);
      batchText.textContent = fill(text.progress, { done: done, total: files.length }) +
        (failed ? " · " + fill(text.failedCount, { failed: failed }) : "");
    }
    async function worker() {
      while (next < files.length) {
        const i = next++;
        const li = card(files[i].name);
        const ok = await send(files[i], li, function (f) {
          sent[i] = f * sizes[i]; li.querySelector(".file-progress").value = f * 100; update();
        }, batch);
        sent[i] = sizes[i];
        if (ok) done++; else failed++;
        update();
      }
    }
    update();
    await Promise.all(Array.from({ length: Math.min(CONCURRENT, files.length) }, worker));
  }

  // One batch at a time: a second tap while it runs (a double tap on a tablet) would send every
  // photo again and mix two batches in one progress line.
  const start = document.getElementById("start");
  start.addEventListener("click", function () {
    const input = document.getElementById("photos");
    const files = Array.from(input.files);
    if (!eventSelect.value) { batchText.textContent = text.chooseEvent; eventSelect.focus(); return; }
    if (!files.length) { batchText.textContent = text.choosePhotos; input.focus(); return; }
    start.disabled = true;
    input.value = "";
    uploadAll(files).finally(function () { start.disabled = false; });
  });

  // A tap on Delete is asked once more: the original is gone for good.
  list.addEventListener("submit", function (e) {
    if (e.target.classList.contains("delete-upload") && !window.confirm(text.confirmDelete)) e.preventDefault();
  });

  eventSelect.addEventListener("change", function () { localStorage.setItem(EVENT_KEY, eventSelect.value); });
  const remembered = localStorage.getItem(EVENT_KEY);
  if (remembered && eventSelect.querySelector('option[value="' + CSS.escape(remembered) + '"]')) {
    eventSelect.value = remembered;
  }

  document.getElementById("event-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const error = document.getElementById("event-error");
    const response = await fetch(app.dataset.eventUrl, {
      method: "POST", body: new FormData(e.target), headers: { "X-CSRFToken": csrf },
    });
    const body = await response.json();
    if (!response.ok) { error.textContent = body.error; return; }
    error.textContent = "";
    eventSelect.add(new Option(body.name + " (" + body.date + ")", body.id, true, true));
    localStorage.setItem(EVENT_KEY, String(body.id));
    document.getElementById("new-event").open = false;
    document.getElementById("photos").focus();
  });

  window.addEventListener("beforeunload", function (e) {
    if (inFlight > 0) { e.preventDefault(); e.returnValue = text.leaving; }
  });

  let pollTimer = null;
  function pending() {
    return list.querySelector("[data-photo-id][data-waiting]") !== null;
  }
  function schedulePoll() {
    if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS);
  }
  async function poll() {
    pollTimer = null;
    try {
      const response = await fetch(app.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const body = await response.json();
        body.photos.forEach(function (photo) {
          const li = list.querySelector('[data-photo-id="' + photo.id + '"]');
          if (li) showStatus(li, photo);
        });
      }
    } catch (err) { /* offline for a moment: try again at the next tick */ }
    if (pending() || inFlight > 0) schedulePoll();
  }
  if (pending()) schedulePoll();
})();
