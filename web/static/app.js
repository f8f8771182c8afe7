// GroupShare page behaviour, no framework. Everything here is an enhancement: pages work without it.
// 1. Theme toggle (persisted in localStorage). 2. Dismissable notice (Esc closes).
// 3. Forms: hard-to-undo actions ask first (cancelling a running download, logging out, leaving a group); long
//    posts say they are busy; a refused form's error is focused and scrolled into view.
// 4. Jump links land in their field; Esc closes a settings disclosure; the groups filter hides rows as one types
//    (every word of it, in any order). 5. What a page that left for the login page kept unsent comes back.
// What the node's event stream brings to an open page (live downloads, group news) is live.js.
(function () {
  var root = document.documentElement;
  var KEY = "groupshare-theme";

  function effectiveTheme() {
    var set = root.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function setupTheme() {
    var btn = document.getElementById("theme-toggle");
    if (!btn) return;
    function label() {
      var dark = effectiveTheme() === "dark";
      btn.textContent = dark ? "Light" : "Dark";
      btn.setAttribute("aria-label", dark ? "Switch to the light theme" : "Switch to the dark theme");
    }
    btn.hidden = false;
    label();
    btn.addEventListener("click", function () {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* not persisted: still switched */ }
      label();
    });
    if (window.matchMedia) {
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", label);
    }
  }

  // The page's notice closes by itself after 20 s in view, the clock stopped while the pointer is over it or focus
  // is in it (WCAG 2.2.1: time to read it, or to reach its link); one that came while the tab was in the background
  // (a tab sent to the login page by a logout elsewhere) waits until the user looks. Esc closes whichever notice
  // shows, the page's or one that came live (live.js puts those in its place). A screen reader reads a live region
  // only when it changes, never one the page came with: the notice's words go to the polite announcer too.
  var TOAST_MS = 20000;
  // Hide a notice; focus inside it goes to the main content, not back to the top of the page. live.js uses it
  // too (window.GroupShare: app.js runs first, both deferred in this order).
  function hideNotice(toast) {
    var hadFocus = toast.contains(document.activeElement);
    toast.hidden = true;
    if (hadFocus) document.getElementById("main").focus();
  }

  // The page's one polite live region (base.html #announcer): words put in it are read once, after what the
  // reader is saying. New words go in at once (the page may be about to leave: an upload's "sent"); the same
  // words again are a change only once emptied first and filled a moment later.
  var announceTimer = null;
  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    clearTimeout(announceTimer);
    if (region.textContent !== text) { region.textContent = text; return; }
    region.textContent = "";
    announceTimer = setTimeout(function () { region.textContent = text; }, 100);
  }
  window.GroupShare = { hideNotice: hideNotice, announce: announce, watchPacing: watchPacing };

  function setupToast() {
    document.addEventListener("keydown", function (e) {
      var shown = document.getElementById("toast");
      if (e.key !== "Escape" || !shown || shown.hidden) return;
      if (e.target instanceof Element && e.target.closest("details[data-esc-close][open]")) return;  // closes that
      hideNotice(shown);
    });
    var toast = document.getElementById("toast");
    if (!toast) return;
    // a moment after load: a region changed while the page is still being read in is not heard everywhere
    var words = toast.querySelector("span").textContent.trim();
    setTimeout(function () { announce(words); }, 250);
    function close() { hideNotice(toast); }
    toast.querySelector(".toast-close").addEventListener("click", close);
    var timer = null, started = false, hovered = false, focused = false;
    function settle() {  // the clock runs while the notice is neither pointed at nor holds focus
      clearTimeout(timer);
      timer = null;
      if (started && !hovered && !focused && !toast.hidden) timer = setTimeout(close, TOAST_MS);
    }
    toast.addEventListener("mouseenter", function () { hovered = true; settle(); });
    toast.addEventListener("mouseleave", function () { hovered = false; settle(); });
    toast.addEventListener("focusin", function () { focused = true; settle(); });
    toast.addEventListener("focusout", function (e) {
      focused = toast.contains(e.relatedTarget);
      settle();
    });
    function closeLater() { started = true; settle(); }
    if (document.visibilityState !== "hidden") { closeLater(); return; }
    document.addEventListener("visibilitychange", function seen() {
      if (document.visibilityState === "hidden") return;
      document.removeEventListener("visibilitychange", seen);
      closeLater();
    });
  }

  // Cancelling a running download deletes what it fetched so far: ask first (pages without script just post).
  // A form whose action is hard to undo (log out, leave a group) says what it does and asks first.
  function setupConfirm() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  }

  function setupRemoveConfirm() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!(form instanceof HTMLFormElement) || form.getAttribute("data-f") !== "remove") return;
      var row = form.closest("li.dl");
      if (!row) return;
      var name = form.querySelector('[data-f="remove_name"]').value;
      var state = row.getAttribute("data-state"), kept = row.getAttribute("data-kept");
      var question = state === "D" ? "Cancel the download of " + name + "? What it has downloaded so far is deleted."
        : state === "P" ? "Cancel the paused download of " + name + "? " +
          (kept ? "The " + kept + " it kept to resume from is deleted." : "Nothing it downloaded is kept.")
        : state === "F" && kept ? "Remove the failed download of " + name + "? The " + kept +
          " it kept to resume from is deleted." : "";
      if (question && !window.confirm(question)) e.preventDefault();
    });
  }

  // A double click sent a form twice, and asked its confirm question twice: a form sent is not sent again for a
  // few seconds, while its answer loads (then it may be: a page left loading by Esc can still be sent). The
  // refusal listens in the capture phase, before the questions are asked; the mark is set after them, and only
  // when the form really goes (not cancelled, not sent by script like an upload).
  function setupSendOnce() {
    document.addEventListener("submit", function (e) {
      if (e.target instanceof HTMLFormElement && e.target.hasAttribute("data-sent")) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    }, true);
    document.addEventListener("submit", function (e) {
      var form = e.target;
      // an action only: a search (GET) typed again while the first loads must go
      if (!(form instanceof HTMLFormElement) || e.defaultPrevented || form.method.toLowerCase() !== "post") return;
      form.setAttribute("data-sent", "");
      setTimeout(function () { form.removeAttribute("data-sent"); }, 5000);
    });
    window.addEventListener("pageshow", function (e) {  // back to a page kept whole: its forms may go again
      if (!e.persisted) return;
      document.querySelectorAll("form[data-sent]").forEach(function (form) { form.removeAttribute("data-sent"); });
    });
  }

  // Long posts (an upload, hashing a big file): say so on the button and stop a second submit. The button is
  // marked aria-disabled, not disabled: a disabled button drops the keyboard focus to the top of the page. While
  // the form is busy (aria-busy) a second submit goes nowhere; upload.js clears the mark when its upload ends.
  function setupBusyForms() {
    document.addEventListener("submit", function (e) {  // capture: before any other listener sends it
      var form = e.target;
      if (form instanceof HTMLFormElement && form.hasAttribute("data-busy") &&
          form.getAttribute("aria-busy") === "true") {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    }, true);
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      var btn = form.querySelector("button[type=submit]");
      if (btn) btn.setAttribute("data-label", btn.textContent);
      form.addEventListener("submit", function () {
        if (!btn) return;
        btn.setAttribute("aria-disabled", "true");
        btn.textContent = form.getAttribute("data-busy");
        form.setAttribute("aria-busy", "true");
      });
    });
    window.addEventListener("pageshow", function (e) {  // back to a page kept whole: its forms may go again
      if (!e.persisted) return;
      document.querySelectorAll("form[data-busy][aria-busy]").forEach(function (form) {
        var btn = form.querySelector("button[type=submit]");
        form.removeAttribute("aria-busy");
        if (btn) { btn.removeAttribute("aria-disabled"); btn.textContent = btn.getAttribute("data-label"); }
      });
    });
  }

  // An action's answer names the section it changed (group_actions: "/groups/x#members"): focus lands on that
  // section's heading (tabindex=-1), as on a download's row, not on the top of the page. A section the answer
  // named that is gone (the last request to join answered) is stood in for by the one named in its place
  // (data-stands-for). Browsers focus a fragment's target on a new load, not always on a reload: done here.
  function setupHashFocus() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id || document.querySelector('main [aria-invalid="true"], main p.error')) return;  // the error's turn
    var target = document.getElementById(id);
    if (!target) {
      target = Array.prototype.find.call(document.querySelectorAll("[data-stands-for]"), function (el) {
        return el.getAttribute("data-stands-for").split(" ").indexOf(id) >= 0;
      }) || null;
    }
    if (!target || !target.hasAttribute("tabindex") || document.activeElement === target) return;
    target.focus();
  }

  // "Create a group" and similar jump links: land in the field, ready to type.
  function setupFocusLinks() {
    document.querySelectorAll("a[data-focus]").forEach(function (a) {
      a.addEventListener("click", function () {
        var target = document.getElementById(a.getAttribute("data-focus"));
        if (target) setTimeout(function () { target.focus(); }, 0);
      });
    });
  }

  // A settings disclosure (details[data-esc-close]): Esc closes it and puts focus back on its summary.
  function setupEscClose() {
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !(e.target instanceof Element)) return;
      var details = e.target.closest("details[data-esc-close][open]");
      if (!details) return;
      details.open = false;
      details.querySelector("summary").focus();
    });
  }

  // A refused form comes back as the whole page with the error beside its cause, which on a long page (many groups
  // or files) lies far below the top the browser opens at: without this, the click seems to have done nothing.
  // Focus goes to the field to correct, or to the row's error itself, and the page scrolls it into view.
  function setupFirstError() {
    var target = document.querySelector('main [aria-invalid="true"]');
    if (!target) {
      target = document.querySelector("main p.error");
      if (target) target.setAttribute("tabindex", "-1");
    }
    if (!target) return;
    var details = target.closest("details");
    if (details) details.open = true;
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
  }

  var COUNT_AFTER_MS = 600;

  // The groups filter: the form works without script (GET ?q=); with it, rows hide as the user types.
  function setupFilter() {
    var form = document.querySelector("[data-filter-form]");
    var list = document.querySelector("[data-filter-rows]");
    if (!form || !list) return;
    var input = form.querySelector("input[type=search]");
    var count = form.querySelector("[data-filter-count]");
    var rows = Array.prototype.slice.call(list.querySelectorAll("li[data-filter-text]"));
    var none = document.querySelector("[data-filter-none]");
    var countTimer = null;
    input.addEventListener("input", function () {
      var key = input.value.trim().normalize("NFKC").toLowerCase().replace(/ς/g, "σ");  // as format.fold does
      var words = key.split(/\s+/).filter(Boolean);  // every word, in any order (pages.matches does the same)
      var shown = 0;
      rows.forEach(function (row) {
        var text = row.getAttribute("data-filter-text");
        var hit = words.every(function (word) { return text.indexOf(word) >= 0; });
        row.hidden = !hit;
        if (hit) shown += 1;
      });
      if (none) none.hidden = shown > 0;
      var noun = form.getAttribute("data-filter-form");  // the words of format.filter_count
      var said = key ? shown + " of " + rows.length + " " + noun + " match \u201c" + input.value.trim() + "\u201d."
                     : rows.length + " " + noun + ".";
      // The count is a live region: said once the typing pauses, not on every key (a screen reader would read
      // each count, cutting the last one off).
      clearTimeout(countTimer);
      countTimer = setTimeout(function () {
        if (count.textContent !== said) count.textContent = said;  // same words, no second reading
      }, COUNT_AFTER_MS);
    });
  }

  // A refused form comes back as the answer to its POST: put the page's own address in the history in its place,
  // so that Back (after the next step) or a reload loads that page instead of asking to send the form again.
  function setupPageUrl() {
    var page = document.body.getAttribute("data-page-url");
    if (page && window.history.replaceState) window.history.replaceState(null, "", page + window.location.hash);
  }

  // What live.js kept of a form the page left unsent (logged out elsewhere): back in its fields, once.
  function restoreTyped() {
    var key = "gs-typed:" + window.location.pathname, raw = null;
    try {
      raw = window.sessionStorage.getItem(key);
      window.sessionStorage.removeItem(key);
    } catch (ignored) { return; }
    var kept = null;
    try { kept = JSON.parse(raw || "null"); } catch (ignored) { return; }
    // only for the user who typed it (live.js keepTyped): another user logged in meanwhile finds nothing
    if (!kept || kept.user !== document.body.getAttribute("data-user") || !Array.isArray(kept.fields)) return;
    kept.fields.forEach(function (pair) {
      var el = Array.isArray(pair) ? document.getElementById(String(pair[0])) : null;
      if (el && !el.value && typeof pair[1] === "string") el.value = pair[1];
    });
  }

  // A form the tracker paces: it answered "slow down", and the node waits that out and sends the request again by
  // itself, for up to 20 s (peer_node/tracker_patience.py), so the page sat silent all that time. While a form is
  // being sent, the page asks the node each second (GET /pacing) whether it waits for the tracker, and says so
  // under the form's button until the answer comes. Without script the form works as before, only silently.
  var PACING_ASK_MS = 1000, PACING_ASKS = 25;  // past the node's 20 s of patience, the answer has come
  var pacingTimer = null;
  function setupPacing() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      // a question answered "no" sends nothing; an upload sent by script calls watchPacing itself (upload.js)
      if (!(form instanceof HTMLFormElement) || e.defaultPrevented || form.method.toLowerCase() !== "post") return;
      watchPacing(form);
    });
    window.addEventListener("pageshow", function (e) { if (e.persisted) clearInterval(pacingTimer); });
  }

  function watchPacing(form) {
    clearInterval(pacingTimer);
    var asks = 0, line = null;
    pacingTimer = setInterval(function () {
      if (++asks > PACING_ASKS) { clearInterval(pacingTimer); return; }
      fetch("/pacing", { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) {
          var words = doc && typeof doc.words === "string" ? doc.words : "";
          if (!words) { if (line) { line.remove(); line = null; } return; }
          if (!line) {
            line = document.createElement("p");
            line.className = "hint pacing";
            form.appendChild(line);
            announce(words);
          }
          line.textContent = words;
        })
        .catch(function () { /* the node is busy answering the form, or stopping: nothing to add */ });
    }, PACING_ASK_MS);
  }

  function init() {
    restoreTyped(); setupPageUrl(); setupTheme(); setupToast(); setupBusyForms(); setupFocusLinks(); setupRemoveConfirm(); setupEscClose();
    setupFirstError(); setupHashFocus(); setupFilter(); setupConfirm();
    setupSendOnce();  // last: its mark must see what the confirm questions decided
    setupPacing();  // after the questions too: a form they kept from going is not watched
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
