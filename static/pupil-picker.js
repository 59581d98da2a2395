// Choosing a pupil by name: the pupils whose names start with the words typed fill the list
// beside the field, and the only one found is chosen. The server decides again on submit.
(function () {
  "use strict";
  const SEARCH_DELAY_MS = 300;
  document.querySelectorAll("[data-search-url]").forEach(function (input) {
    const select = document.getElementById(input.dataset.target);
    const first = select.options[0];
    let timer = null, sent = 0;
    async function search() {
      const mine = ++sent;
      const response = await fetch(input.dataset.searchUrl + "?q=" + encodeURIComponent(input.value));
      if (!response.ok || mine !== sent) return;
      const body = await response.json();
      select.replaceChildren(first);
      body.pupils.forEach(function (p) { select.add(new Option(p.label, p.id)); });
      if (body.pupils.length === 1) select.value = String(body.pupils[0].id);
    }
    input.addEventListener("input", function () {
      select.value = "";  // a name typed anew is not the pupil chosen before
      clearTimeout(timer);
      timer = setTimeout(search, SEARCH_DELAY_MS);
    });
  });
})();
