// GroupShare's live page: what the node's event stream (/downloads/events) brings to an open page, no framework.
// Like app.js, an enhancement only: without it the pages still work, and show the news on the next load.
// 1. Downloads: rows are patched field by field, only where the words changed (and the limits' line and the
//    footer's tracker, where the page has them); a screen reader hears a download end (a polite live region).
// 2. Group news: an owner's answer to a request to join (a "joins" event) and new requests to join the user's
//    groups (a "requests" event) are shown as a notice, and the navigation counts the requests.
// 3. Leaving when the session ended elsewhere (a "logout" event).
// 4. A browser notification when a download completes (permission asked on a click, never on load).
(function () {
  // A notice that arrives while the page is open (an owner's answer): it stays until dismissed, and offers the
  // group's page when the answer changes what that page shows.
  function showLiveNotice(text, link) {
    var old = document.getElementById("toast");
    var hadFocus = old && old.contains(document.activeElement);  // a keyboard user on the notice stays on it
    if (old) old.remove();
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.id = "toast";
    toast.setAttribute("role", "status");
    var span = document.createElement("span");
    span.textContent = text + " ";
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.label;
      if (link.reload) {  // this very page, rendered before the news: load it again, then go to the anchor
        a.addEventListener("click", function (e) {
          e.preventDefault();
          window.location.hash = link.href.split("#")[1] || "";
          window.location.reload();
        });
      }
      span.appendChild(a);
    }
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "toast-close ghost";
    btn.setAttribute("aria-label", "Dismiss notice");
    btn.textContent = "\u00d7";
    btn.addEventListener("click", function () { window.GroupShare.hideNotice(toast); });
    toast.appendChild(span);
    toast.appendChild(btn);
    // Where the page's own notice sits (before the main content): a keyboard user reaches its link early.
    document.body.insertBefore(toast, document.getElementById("main"));
    announce(text);  // a status region added with its words already in is not read out everywhere
    if (hadFocus) (toast.querySelector("a") || btn).focus();
    return toast;
  }


  // New requests to join the user's groups: the navigation's count, and a notice leading to them.
  function onRequests(payload) {
    var count = document.getElementById("pending-total");
    if (count) {
      count.hidden = !payload.total;
      var sep = document.getElementById("pending-sep");  // "Groups, 2 asking…", not "Groups2 asking…"
      if (sep) sep.hidden = !payload.total;
      setText(count.firstChild, String(payload.total));
      var link = document.getElementById("nav-groups");  // its name, as the page renders it (base.html)
      if (link && payload.total) link.setAttribute("aria-label", "Groups, " + payload.total +
                                                   " asking to join your groups");
      else if (link) link.removeAttribute("aria-label");
    }
    settleRequestLinks(payload.pending || {});
    settleRequestsSection(payload.pending || {}, payload.requesters || {});
    var groups = Object.keys(payload.new);
    if (!groups.length) {
      settleRequestsNotice(payload.pending || {});
      return;
    }
    var here = decodeURIComponent(window.location.pathname);
    var page = "/groups/" + groups[0];
    var label = groups.length > 1 ? "See your groups" : here === page ? "Show the requests" : "See who asks";
    showLiveNotice(payload.text, { href: groups.length > 1 ? "/groups" : page + "#requests", label: label,
                                   reload: groups.length === 1 && here === page });
    document.getElementById("toast").dataset.requests = JSON.stringify(groups);
  }

  // The groups and home pages' rows of the user's groups say how many ask to join each (macro pending_link): kept
  // to the counts, so that a request answered elsewhere (another tab, a command) leaves no stale line.
  function settleRequestLinks(pending) {
    document.querySelectorAll("li.row a.attention-link").forEach(function (link) {
      var group = (link.getAttribute("href") || "").replace(/^\/groups\//, "").replace(/#requests$/, "");
      var n = pending[group] || 0;
      if (!n) {
        link.parentElement.remove();
        return;
      }
      setText(link, n + " asking to join " + group);
    });
    addRequestLinks(pending);
  }

  // A row of a group whose first request came after the page was drawn gets its line too. Only a group's own row
  // (its name links to the group, not to a section of it).
  function addRequestLinks(pending) {
    document.querySelectorAll("li.row .row-title a.name").forEach(function (name) {
      var match = /^\/groups\/([^\/#?]+)$/.exec(name.getAttribute("href") || "");
      var row = name.closest("li.row");
      if (!match || !pending[match[1]] || row.querySelector("a.attention-link")) return;
      var line = document.createElement("p"), link = document.createElement("a");
      link.className = "attention-link";
      link.href = "/groups/" + match[1] + "#requests";
      link.textContent = pending[match[1]] + " asking to join " + match[1];
      line.appendChild(link);
      var owner = row.querySelector(":scope > p.muted");  // where the page puts it: under the owner line
      if (owner) owner.after(line); else row.appendChild(line);
    });
  }

  // An owner's group page lists who asks to join: a request withdrawn (or answered in another tab or by a
  // command) leaves an Accept that can only say "no longer waiting". None left: the list goes; some: the notice
  // says so and offers the list as it is now. Compared by name where the node names them (``requesters``): one
  // request withdrawn and another made between two looks has the same count, and left the page as it was.
  function settleRequestsSection(pending, requesters) {
    var section = document.querySelector("[data-requests-group]");
    if (!section) return;
    var group = section.getAttribute("data-requests-group"), n = pending[group] || 0;
    var listed = section.getAttribute("data-requesters").split(" ").filter(Boolean), now = requesters[group];
    var still = now ? listed.filter(function (u) { return now.indexOf(u) >= 0; }) : listed.slice(0, n);
    if (still.length === listed.length) return;
    section.setAttribute("data-requesters", still.join(" "));
    if (!still.length) section.remove();  // every Accept on it is stale
    if (!n) {
      showLiveNotice("No one is asking to join " + group + " any more: withdrawn, or answered elsewhere.", null);
      return;
    }
    showLiveNotice("A request to join " + group + " was withdrawn or answered elsewhere.",
                   { href: "/groups/" + group + "#requests", label: "Show who asks now", reload: true });
  }

  // The requests a notice told of are all gone (withdrawn, or answered elsewhere): its link would lead to an
  // empty list, so the notice says so instead.
  function settleRequestsNotice(pending) {
    var toast = document.getElementById("toast");
    if (!toast || toast.hidden || !toast.dataset.requests) return;
    var groups = JSON.parse(toast.dataset.requests);
    if (groups.some(function (g) { return pending[g] > 0; })) return;
    showLiveNotice("No request to join " + groups.join(" or ") +
                   " is waiting any more: withdrawn, or answered elsewhere.", null);
  }

  // A row of a group this page lists (the groups page, the home page) follows an owner's answer to the user's
  // request: it stops saying "Request pending". The notice says the rest, with its link.
  function settleRow(group, answer) {
    document.querySelectorAll("li.row").forEach(function (row) {
      var name = row.querySelector("a.name"), badge = row.querySelector(".badge.pending");
      if (!name || !badge || name.getAttribute("href") !== "/groups/" + group) return;
      if (answer !== "accepted") {
        badge.className = "badge";
        // "remade": deleted, and another group made under its name (the old request does not carry over)
        badge.textContent = { declined: "Request declined", remade: "Group replaced" }[answer] || "Group deleted";
        return;
      }
      badge.className = "badge member";
      badge.textContent = "Member";
      var info = row.querySelector("p.muted");  // "Owner alice · 1 member": one more now
      if (info) {
        info.textContent = info.textContent.replace(/ · (\d+) members?$/, function (all, n) {
          var count = Number(n) + 1;
          return " · " + count + " member" + (count === 1 ? "" : "s");
        });
      }
    });
  }

  // What the user typed and had not sent yet, kept for this page's next load in this tab (app.js puts it back):
  // a page that leaves for the login page by itself must not lose it. Text fields only, never a password; and
  // for this user only: on a shared machine the next one to log in in this tab must not find it in their form.
  function keepTyped() {
    var kept = [];
    document.querySelectorAll("form input[id], form textarea[id]").forEach(function (el) {
      var type = el.tagName === "TEXTAREA" ? "text" : (el.getAttribute("type") || "text").toLowerCase();
      if (["text", "url", "number"].indexOf(type) < 0 || !el.value || el.value === el.defaultValue) return;
      kept.push([el.id, el.value]);
    });
    if (!kept.length) return;
    var keeping = { user: document.body.getAttribute("data-user"), fields: kept };
    try { window.sessionStorage.setItem("gs-typed:" + window.location.pathname, JSON.stringify(keeping)); }
    catch (ignored) { /* storage off: nothing to keep it in */ }
  }

  function onJoins(payload) {
    var here = decodeURIComponent(window.location.pathname);
    var link = null;
    payload.answers.forEach(function (a) {
      settleRow(a.group, a.answer);
      var page = "/groups/" + a.group;
      if (a.answer === "accepted") link = { href: page, label: here === page ? "Show the group" : "Open " + a.group };
      else if (here === page || here === "/groups") link = { href: here, label: "Refresh this page" };
    });
    showLiveNotice(payload.text, link);
  }

  // ---- live downloads ----
  var KINDS = { d: "done", f: "flight", p: "part", ".": "miss" };
  var SVG = "http://www.w3.org/2000/svg";

  function drawMap(svg, cells, label) {
    if (svg.getAttribute("data-cells") === cells) return;
    svg.setAttribute("data-cells", cells);
    svg.setAttribute("viewBox", "0 0 " + Math.max(cells.length, 1) + " 1");
    svg.setAttribute("aria-label", label);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var i = 0;
    while (i < cells.length) {
      var j = i;
      while (j < cells.length && cells[j] === cells[i]) j++;
      var r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", String(i)); r.setAttribute("y", "0");
      r.setAttribute("width", String(j - i)); r.setAttribute("height", "1");
      // A digit is a done cell given by one member: that member's colour, as in the who-gave-what bar.
      var c = cells[i];
      r.setAttribute("class", c >= "0" && c <= "9" ? "peer-" + c : "pm-" + (KINDS[c] || "miss"));
      svg.appendChild(r);
      i = j;
    }
  }

  // Who gave what: a stacked bar plus a chip per member, rebuilt only when the numbers changed.
  function drawGiven(box, given) {
    if (!box) return;
    var sig = JSON.stringify(given);
    if (box.getAttribute("data-sig") === sig) return;
    box.setAttribute("data-sig", sig);
    box.hidden = given.length === 0;
    var bar = box.querySelector("svg"), line = box.querySelector("p");
    while (bar.firstChild) bar.removeChild(bar.firstChild);
    line.textContent = "Received from ";
    var x = 0;
    given.forEach(function (g) {
      var r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", String(x)); r.setAttribute("y", "0");
      r.setAttribute("width", String(g[2])); r.setAttribute("height", "1");
      r.setAttribute("class", "peer-" + g[3]);
      bar.appendChild(r);
      x += g[2];
      var chip = document.createElement("span"), sw = document.createElement("span");
      chip.className = "chip"; sw.className = "sw peer-" + g[3]; sw.setAttribute("aria-hidden", "true");
      chip.appendChild(sw); chip.appendChild(document.createTextNode(g[0] + " " + g[1]));
      line.appendChild(chip);
    });
  }

  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

  function patchRow(row, d) {
    var f = function (name) { return row.querySelector('[data-f="' + name + '"]'); };
    setText(f("name"), d.name);
    var g = f("group");
    if (g) { setText(g, d.group); var href = "/groups/" + encodeURIComponent(d.group); if (g.getAttribute("href") !== href) g.setAttribute("href", href); }
    var badge = f("state_text");
    setText(badge, d.state_text);
    if (badge) badge.className = "badge st-" + d.tone;
    var bar = f("percent");
    if (bar && Number(bar.value) !== d.percent) bar.value = d.percent;
    if (bar) bar.setAttribute("aria-label", "Progress of " + d.name);
    setText(f("progress_text"), d.progress_text);
    setText(f("detail_text"), d.detail_text);
    drawGiven(f("given"), d.given);
    drawMap(f("cells"), d.cells, d.map_label);
    var save = f("save_url");
    if (save) {
      save.hidden = !d.save_url;
      if (d.save_url && save.getAttribute("href") !== d.save_url) save.setAttribute("href", d.save_url);
      save.setAttribute("download", d.name);
      var vh = save.querySelector(".visually-hidden");
      setText(vh, " " + d.name);
    }
    ["retry", "pause", "resume"].forEach(function (action) {  // one form each, shown in the states it acts in
      var form = f(action);
      if (!form) return;
      form.hidden = !d[action];
      form.querySelector('input[name="group_id"]').value = d.group;
      form.querySelector('input[name="file_name"]').value = d.name;
      setText(form.querySelector(".visually-hidden"), " " + d.name);
    });
    var remove = f("remove");
    if (remove) {
      f("remove_group").value = d.group;
      f("remove_name").value = d.name;
      setText(f("remove_word"), d.remove_word);
      setText(remove.querySelector(".visually-hidden"), " " + d.name);
    }
    row.setAttribute("data-state", d.state);
    row.setAttribute("data-kept", d.kept);
  }

  // A polite live region (app.js): a screen reader hears a download end while the page is open.
  function announce(text) { window.GroupShare.announce(text); }

  // The browser's permission cannot be taken back by a page, so "off" is our own setting, kept in this browser.
  var NOTIFY_KEY = "groupshare-notify";
  function notifyOn() {
    try { return window.localStorage.getItem(NOTIFY_KEY) !== "off"; } catch (e) { return true; }
  }
  function setNotify(on) {
    try { window.localStorage.setItem(NOTIFY_KEY, on ? "on" : "off"); } catch (e) { /* private mode: this page only */ }
  }

  function notifyDone(d) {
    if (!("Notification" in window) || Notification.permission !== "granted" || !notifyOn()) return;
    try {
      new Notification("Download complete", { body: d.name + " from " + d.group + " is verified and saved.", tag: d.key });
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  var DOWN_NOTICE_MS = 3000;

  // The downloads page's views by state: their counts, and Clear completed only while there is one to clear.
  function countViews(data) {
    var views = document.querySelector("[data-views]");
    if (!views) return;
    views.hidden = data.length === 0;
    views.querySelectorAll("[data-count]").forEach(function (el) {
      var states = el.getAttribute("data-count");
      setText(el, String(data.filter(function (d) { return states.indexOf(d.state) >= 0; }).length));
    });
    var clear = views.querySelector("[data-clear]");
    if (clear) clear.hidden = !data.some(function (d) { return d.state === "C"; });
  }

  function shown(el) { return el.isConnected && !el.closest("[hidden]") && el.getClientRects().length > 0; }

  // After a patch: focus stays where it was, or, where that control is hidden now, goes to the row's first action
  // shown (the row itself, tabindex=-1, when none is), or to the main content when the row is gone.
  function keepFocus(was, row) {
    var now = document.activeElement;
    if (now === was && shown(was)) return;
    if (now && now !== document.body && now !== was) return;  // the user moved on meanwhile
    if (shown(was)) { was.focus({ preventScroll: true }); return; }
    if (!row.isConnected) { document.getElementById("main").focus({ preventScroll: true }); return; }
    var actions = row.querySelectorAll(".row-actions a, .row-actions button");
    var next = Array.prototype.find.call(actions, shown) || row;
    next.focus({ preventScroll: true });
  }

  function setupLive() {
    var lists = document.querySelectorAll("[data-live-downloads]");
    var news = document.body.hasAttribute("data-live");  // a logged-in page: group news comes on the stream too
    if ((!lists.length && !news) || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var tpl = document.getElementById("dl-template");
    var lastState = {};
    var first = true;
    // A page without download rows asks for brief ones: enough to announce an end and notify. The downloads page
    // names its view: only that view's rows come whole, the others brief (enough to count them).
    var view = lists.length === 1 ? lists[0].getAttribute("data-show") : null;
    var es = new EventSource("/downloads/events" + (!lists.length ? "?rows=brief" :
                                                    view ? "?show=" + encodeURIComponent(view) : ""));
    var limitNow = document.getElementById("upload-limit-now");
    var limitField = document.getElementById("upload-limit");
    var downNow = document.getElementById("download-limit-now");
    var downField = document.getElementById("download-limit");
    // Each message brings only what changed (the node's live_rows.py): the rows whose words changed, the order
    // when it changed. The page keeps the rest.
    var order = [], rowData = {};
    es.addEventListener("downloads", function (ev) {
      var payload = JSON.parse(ev.data);
      var changed = {};
      if (Array.isArray(payload.order)) order = payload.order;
      (payload.rows || []).forEach(function (d) { rowData[d.key] = d; changed[d.key] = true; });
      var kept = {};
      order.forEach(function (k) { kept[k] = rowData[k]; });
      rowData = kept;
      var data = order.map(function (k) { return rowData[k]; }).filter(Boolean);
      if (limitNow && typeof payload.uploads === "string") {
        setText(limitNow, payload.uploads);  // the limit may change from /cmd or another tab
        var editing = limitField && limitField.closest("details").open;
        if (limitField && !editing) limitField.value = payload.upload_rate;
      }
      if (downNow && typeof payload.downloads_limit === "string") {
        setText(downNow, payload.downloads_limit);  // as the upload limit's: /cmd or another tab may change it
        if (downField && !downField.closest("details").open) downField.value = payload.download_rate;
      }
      // A patch can hide the control that has focus (Resume, when the download resumed elsewhere), and moving a
      // row to its new place takes focus out of it: either way focus would fall to the top of the page.
      var focused = document.activeElement, focusedRow = focused && focused.closest ? focused.closest("li.dl") : null;
      lists.forEach(function (list) {
        var limit = Number(list.getAttribute("data-limit") || 0);
        var show = list.getAttribute("data-show");
        var inView = !show || show === "all" ? data : data.filter(function (d) { return d.state === show; });
        var items = limit ? inView.slice(0, limit) : inView;
        var rows = {};
        list.querySelectorAll("li.dl").forEach(function (li) { rows[li.getAttribute("data-key")] = li; });
        items.forEach(function (d, idx) {
          var row = rows[d.key];
          if (!row && tpl) {
            row = tpl.content.firstElementChild.cloneNode(true);
            row.setAttribute("data-key", d.key);
            row.id = d.key;  // an action on it comes back to it (the node's redirect names it)
            row.querySelector('[data-f="cells"]').removeAttribute("data-cells");
          }
          if (!row) return;
          if (changed[d.key] || !rows[d.key]) patchRow(row, d);  // a row whose words did not change stays as is
          if (list.children[idx] !== row) list.insertBefore(row, list.children[idx] || null);
          delete rows[d.key];
        });
        Object.keys(rows).forEach(function (k) { rows[k].remove(); });
        var empty = list.parentNode.querySelector("[data-empty]");
        if (empty) empty.hidden = data.length > 0;
        var emptyView = list.parentNode.querySelector("[data-empty-view]");
        if (emptyView) emptyView.hidden = items.length > 0 || data.length === 0;
        var legend = list.parentNode.querySelector("[data-legend]");
        if (legend) legend.hidden = items.length === 0;
        list.hidden = items.length === 0;
      });
      if (focusedRow) keepFocus(focused, focusedRow);
      countViews(data);
      var foot = document.getElementById("foot-tracker");
      if (foot && typeof payload.tracker === "string") setText(foot, payload.tracker);
      var detail = document.getElementById("tracker-detail");  // the home page's tracker section
      if (detail && payload.tracker_detail) {
        detail.firstElementChild.className = "dot " + payload.tracker_detail[0];
        setText(detail.lastElementChild, payload.tracker_detail[1]);
      }
      data.forEach(function (d) {
        if (!changed[d.key]) return;
        if (!first && lastState[d.key] === "D" && d.state !== "D") announce(d.announce);
        if (!first && lastState[d.key] !== "C" && d.state === "C") notifyDone(d);  // finished while the page was open
        lastState[d.key] = d.state;
      });
      first = false;
      if (status) setText(status, "Updates live.");
    });
    es.addEventListener("joins", function (ev) { onJoins(JSON.parse(ev.data)); });
    es.addEventListener("requests", function (ev) { onRequests(JSON.parse(ev.data)); });
    es.addEventListener("logout", function () {  // logged out elsewhere: say so, and come back here after login
      es.close();
      keepTyped();
      var here = window.location.pathname + window.location.search + window.location.hash;
      window.location.assign("/login?why=elsewhere&next=" + encodeURIComponent(here));
    });
    // The node stopped answering (stopped, restarting): say so on every live page, once it lasts past a brief
    // reconnect, and take the notice away when the stream is back.
    // The notice it covered (a request to join, say) comes back with the node.
    var downTimer = null, downNotice = null, covered = null;
    es.onopen = function () {
      clearTimeout(downTimer);
      downTimer = null;
      if (downNotice) {
        if (document.body.contains(downNotice)) {
          downNotice.remove();
          if (covered && !covered.hidden) document.body.insertBefore(covered, document.getElementById("main"));
        }
        downNotice = covered = null;
        announce("The node answers again.");
      }
    };
    es.onerror = function () {
      if (!downTimer && !downNotice) {
        downTimer = setTimeout(function () {
          covered = document.getElementById("toast");
          downNotice = showLiveNotice("This node is not answering (stopped or restarting?). The page reconnects " +
                                      "by itself; what you do here meanwhile is not sent.", null);
        }, DOWN_NOTICE_MS);
      }
      if (status) setText(status, "Reconnecting to the node…");
      // A running row's speed and time left would go stale while the node does not answer: say so instead.
      document.querySelectorAll('li.dl[data-state="D"] [data-f="detail_text"]').forEach(function (el) {
        setText(el, "Not updated: reconnecting to the node…");
      });
    };
  }

  function setupNotify() {
    var btn = document.getElementById("notify-btn");
    if (!btn || !("Notification" in window)) return;
    function label() {
      var granted = Notification.permission === "granted";
      if (Notification.permission === "denied") { btn.textContent = "Notifications blocked by the browser"; btn.disabled = true; }
      else if (granted && notifyOn()) btn.textContent = "Turn off download notifications";
      else btn.textContent = "Notify me when a download finishes";
    }
    btn.hidden = false;
    label();
    btn.addEventListener("click", function () {
      if (Notification.permission === "granted") { setNotify(!notifyOn()); label(); return; }
      Notification.requestPermission().then(function (answer) { if (answer === "granted") setNotify(true); label(); });
    });
  }

  function init() { setupLive(); setupNotify(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
