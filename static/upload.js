// Staff upload: one request per photo (progress per file and for the batch), then live status.
(function () {
  "use strict";
  const app = document.getElementById("upload-app");
  if (!app) return;
  const csrf = app.dataset.csrf;
  const list = document.getElementById("uploads");
  const eventSelect = document.getElementById("event");
  const batchBar = document.getElementById("batch-progress");
  const batchText = document.getElementById("batch-text");
  const CONCURRENT = 2;
  const POLL_MS = 2000;

  function card(name) {
    const li = document.createElement("li");
    li.className = "col-6 col-md-4 col-lg-3";
    li.innerHTML = '<div class="card h-100"><div class="card-body p-2">' +
      '<div class="small text-truncate name"></div>' +
      '<progress class="w-100 file-progress" max="100" value="0"></progress>' +
      '<span class="badge status status-uploading"></span>' +
      '<div class="small text-danger error"></div></div></div>';
    li.querySelector(".name").textContent = name;
    li.querySelector(".status").textContent = "Uploading";
    list.prepend(li);
    return li;
  }

  function showStatus(li, photo) {
    li.dataset.photoId = photo.id;
    const badge = li.querySelector(".status");
    badge.className = "badge status status-" + photo.status;
    badge.textContent = photo.label;
    li.querySelector(".error") && (li.querySelector(".error").textContent = photo.error || "");
    if (!li.querySelector("img") && photo.thumb && photo.status !== "rejected") {
      const img = document.createElement("img");
      img.className = "card-img-top thumb";
      img.alt = photo.filename;
      img.src = photo.thumb;
      li.querySelector(".card").prepend(img);
    }
  }

  function send(file, li, onProgress) {
    return new Promise(function (resolve) {
      const form = new FormData();
      form.append("photo", file, file.name);
      form.append("event_id", eventSelect.value);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", app.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 201) { onProgress(1); showStatus(li, body); resolve(true); }
        else { fail(li, file, body.error || ("Upload failed (" + xhr.status + ")")); resolve(false); }
      };
      xhr.onerror = function () { fail(li, file, "Network error: check the connection and retry."); resolve(false); };
      xhr.send(form);
    });
  }

  function fail(li, file, message) {
    const badge = li.querySelector(".status");
    badge.className = "badge status status-rejected";
    badge.textContent = "Not uploaded";
    li.querySelector(".error").textContent = message;
    if (!li.querySelector(".retry")) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn btn-outline-primary btn-sm retry mt-1";
      retry.textContent = "Retry";
      retry.addEventListener("click", function () {
        retry.remove();
        li.querySelector(".error").textContent = "";
        send(file, li, function (f) { li.querySelector(".file-progress").value = f * 100; });
      });
      li.querySelector(".card-body").append(retry);
    }
  }

  async function uploadAll(files) {
    const progress = new Array(files.length).fill(0);
    let done = 0, failed = 0, next = 0;
    function update() {
      const total = progress.reduce(function (a, b) { return a + b; }, 0) / files.length;
      batchBar.value = Math.round(total * 100);
      batchText.textContent = done + " / " + files.length + " uploaded" + (failed ? ", " + failed + " failed" : "");
    }
    async function worker() {
      while (next < files.length) {
        const i = next++;
        const li = card(files[i].name);
        const ok = await send(files[i], li, function (f) {
          progress[i] = f; li.querySelector(".file-progress").value = f * 100; update();
        });
        if (ok) done++; else { failed++; progress[i] = 1; }
        update();
      }
    }
    update();
    await Promise.all(Array.from({ length: Math.min(CONCURRENT, files.length) }, worker));
  }

  document.getElementById("start").addEventListener("click", function () {
    const files = Array.from(document.getElementById("photos").files);
    if (!eventSelect.value) { batchText.textContent = "Choose the event first."; eventSelect.focus(); return; }
    if (!files.length) { batchText.textContent = "Choose some photos first."; return; }
    uploadAll(files);
  });

  document.getElementById("event-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const form = new FormData(e.target);
    const response = await fetch(app.dataset.eventUrl, { method: "POST", body: form, headers: { "X-CSRFToken": csrf } });
    const body = await response.json();
    if (!response.ok) { batchText.textContent = body.error; return; }
    const option = new Option(body.name + " (" + body.date + ")", body.id, true, true);
    eventSelect.add(option);
    e.target.closest("details").open = false;
  });

  async function poll() {
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
    setTimeout(poll, POLL_MS);
  }
  setTimeout(poll, POLL_MS);
})();
