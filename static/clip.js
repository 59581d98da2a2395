// Clip review: "Play from here" seeks the player; a split time follows the player's position.
(function () {
  "use strict";
  const player = document.getElementById("clip-player");
  if (!player) return;
  document.querySelectorAll(".seek").forEach(function (button) {
    button.addEventListener("click", function () {
      player.currentTime = Number(button.dataset.time);
      player.scrollIntoView({ block: "center" });
      player.play().catch(function () {});  // a tablet may refuse to play without a tap
    });
  });
  player.addEventListener("timeupdate", function () {
    const now = player.currentTime.toFixed(1);
    document.querySelectorAll(".split-at").forEach(function (input) {
      if (document.activeElement !== input) input.value = now;
    });
  });
})();
