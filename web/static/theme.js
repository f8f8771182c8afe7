// Runs before the first paint (loaded without defer): apply the theme the user chose with the toggle, if any,
// so a dark-mode user never sees a white flash. Without a choice, CSS follows the system setting.
(function () {
  try {
    var t = localStorage.getItem("groupshare-theme");
    if (t === "dark" || t === "light") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage blocked: follow the system */ }
})();
