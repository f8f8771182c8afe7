// GroupShare: a browser upload with its progress, and a way to stop it.
//
// An enhancement only: without it the form posts as any form does, the button saying "Uploading…". With it the
// file goes up in an XMLHttpRequest (fetch cannot report an upload's progress), the form shows how much has gone
// and how much is left, and Cancel stops it (the node keeps nothing of a cut-off upload). The node answers such a
// request with 204 and the page to go to (its notice waits there), or when it refuses with why in JSON: the form
// says so where the page would have (#upload-error), the chosen file still in it to send again. While it runs,
// leaving the page asks first.
(function () {
  "use strict";

  function size(n) {  // decimal units, as the pages write sizes (peer_node/units.py)
    var units = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }

  function setupUpload() {
    var form = document.querySelector("form[data-upload]");
    if (!form || !window.FormData || !window.XMLHttpRequest) return;
    var panel = form.querySelector("[data-upload-progress]");
    var bar = panel.querySelector("progress"), words = panel.querySelector("[data-upload-words]");
    var button = form.querySelector("button[type=submit]"), label = button.textContent;
    var xhr = null;

    // Said to a screen reader through the page's one polite region (app.js): the start, a milestone now and then
    // (a quarter more sent, at most one each MILESTONE_MS), "sent, checking", and how it ended. The words on the
    // panel change many times a second and are not a live region.
    var MILESTONE_MS = 10000;
    var lastSaid = 0, quarterSaid = 0;
    function say(text) { window.GroupShare.announce(text); }

    function done(text) {  // back to a form ready to send again, saying why
      xhr = null;
      var hadFocus = panel.contains(document.activeElement) || document.activeElement === button;
      panel.hidden = true;
      button.removeAttribute("aria-disabled");
      button.textContent = label;
      form.removeAttribute("aria-busy");
      var said = form.querySelector("[data-upload-said]");
      said.textContent = text;
      said.hidden = !text;
      if (text) say(text);
      // Focus was on Cancel upload, hidden now: to the words that say how it ended, or to the file to send again.
      if (hadFocus || document.activeElement === document.body) {
        if (text) said.focus(); else form.querySelector("input[type=file]").focus();
      }
    }

    function clearError() {
      var shown = form.querySelector("#upload-error");
      if (!shown) return;
      var detail = shown.nextElementSibling;
      if (detail && detail.classList.contains("detail")) detail.remove();
      shown.remove();
      var input = form.querySelector("input[type=file]");
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }

    function refused(said, detail) {  // built as the page's error macro builds it (_macros.html)
      done("");
      clearError();
      var p = document.createElement("p"), icon = document.createElement("span");
      p.className = "error";
      p.id = "upload-error";
      p.setAttribute("role", "alert");
      icon.className = "error-icon";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "!";
      p.appendChild(icon);
      p.appendChild(document.createTextNode(" " + said));
      form.appendChild(p);
      if (detail) {
        var more = document.createElement("details"), summary = document.createElement("summary");
        var text = document.createElement("p");
        more.className = "muted detail";
        summary.textContent = "Details";
        text.textContent = detail;
        more.appendChild(summary);
        more.appendChild(text);
        form.appendChild(more);
      }
      var input = form.querySelector("input[type=file]");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "upload-error");
      input.focus();
    }

    function answered(request) {
      xhr = null;  // over: going to the answer's page is not leaving an upload behind
      if (request.status === 204 && request.getResponseHeader("Location")) {
        var to = new URL(request.getResponseHeader("Location"), window.location.href);
        if (to.pathname + to.search === window.location.pathname + window.location.search) {
          // this very page at a section (#share): only a reload loads it, with its notice (app.js focuses it)
          window.history.replaceState(null, "", to.href);
          window.location.reload();
        } else {
          window.location.assign(to.href);
        }
        return;
      }
      var type = request.getResponseHeader("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        var why = null;
        try { why = JSON.parse(request.responseText); } catch (ignored) { why = null; }
        if (why && typeof why.error === "string") { refused(why.error, why.detail || ""); return; }
      }
      var action = new URL(form.action, window.location.href).href;
      if (request.responseURL && request.responseURL !== action) {  // sent elsewhere, as to sign in again
        window.location.assign(request.responseURL);
        return;
      }
      refused("The node could not take the upload (HTTP " + request.status + "). Nothing was shared. " +
              "Reload the page and try again.", "");
    }

    // Leaving the page (a link, a reload, closing the tab) would cut the upload off unseen: the browser asks first.
    window.addEventListener("beforeunload", function (e) {
      if (!xhr) return;
      e.preventDefault();
      e.returnValue = "";  // what older Chromium needs to ask
    });
    panel.querySelector("[data-upload-cancel]").addEventListener("click", function () {
      if (xhr) xhr.abort();
    });
    form.addEventListener("submit", function (e) {
      var input = form.querySelector("input[type=file]");
      if (!input.files || !input.files.length || xhr) return;  // nothing chosen: the browser or the node says so
      e.preventDefault();
      window.GroupShare.watchPacing(form);  // the share the upload makes may be paced by the tracker (app.js)
      var request = new XMLHttpRequest();
      xhr = request;
      var total = input.files[0].size;
      bar.value = 0;
      words.textContent = "0 B of " + size(total) + " sent";
      panel.hidden = false;
      form.querySelector("[data-upload-said]").hidden = true;
      clearError();
      panel.querySelector("[data-upload-cancel]").focus();  // the button pressed says "busy" now: the way out
      say("Uploading " + input.files[0].name + ", " + size(total) + ".");
      lastSaid = Date.now();
      quarterSaid = 0;
      var sentSaid = false;
      request.upload.addEventListener("progress", function (ev) {
        if (!ev.lengthComputable) return;
        bar.value = Math.floor(ev.loaded * 100 / ev.total);
        var sent = ev.loaded >= ev.total;
        words.textContent = sent ? "Sent. The node is checking the file and sharing it…"
          : size(ev.loaded) + " of " + size(ev.total) + " sent (" + bar.value + "%)";
        if (sent) {
          if (!sentSaid) say("Sent. The node is checking the file and sharing it.");
          sentSaid = true;
          return;
        }
        var quarter = Math.floor(bar.value / 25);
        if (quarter > quarterSaid && Date.now() - lastSaid >= MILESTONE_MS) {
          say(bar.value + "% sent.");
          quarterSaid = quarter;
          lastSaid = Date.now();
        }
      });
      request.upload.addEventListener("load", function () {  // all sent (no last progress event may say so)
        bar.value = 100;
        words.textContent = "Sent. The node is checking the file and sharing it…";
        if (!sentSaid) say("Sent. The node is checking the file and sharing it.");
        sentSaid = true;
      });
      request.addEventListener("load", function () { answered(request); });
      request.addEventListener("abort", function () { done("Upload cancelled. Nothing was shared."); });
      request.addEventListener("error", function () {
        done("The upload stopped: the node did not answer. Nothing was shared; try again.");
      });
      request.open("POST", form.action);
      request.setRequestHeader("X-Upload-Progress", "1");
      request.send(new FormData(form));  // the CSRF field first, as the node reads it
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setupUpload); else setupUpload();
})();
