// InstaChat chat page. Plain ES2020, no build step, no library: it calls the
// public API on this origin and follows the open chat's live events
// (EventSource). Message bodies are other people's input, so they are only
// ever set with textContent.
//
// Live view: the newest page is loaded by cursor, then the chat's events are
// followed from the page's Event-Position. Events are keyed by message
// number, so applying one twice changes nothing: created and updated set the
// body (adding the row when needed), deleted removes it. What an event said
// wins over a page read before or after it, since a page shows what the
// writer has applied and events what the api has accepted.
//
// For tests: window.icLog lists the events' ids in arrival order; icDups
// counts events received twice (an id, or a number created twice); icGaps
// counts created numbers that skip past the highest number seen.
(function () {
  "use strict";

  var API = document.documentElement.getAttribute("data-api") || "/api/v1";
  var STORE = "instachat.chat.token";
  var PAGE = 50;
  var EVENT_TYPES = ["message.created", "message.updated", "message.deleted", "chat.created", "chat.deleted"];

  window.icLog = [];
  window.icDups = 0;
  window.icGaps = 0;

  function $(id) { return document.getElementById(id); }

  var app = { token: "", name: "", chatsBefore: null };
  // chat is the open chat's view; a new object on every (re)load, so
  // answers and events meant for an older view are recognised and dropped.
  var chat = null;
  var stream = { es: null, lastId: "", backoff: 0, timer: 0, resetAt: 0 };

  // ---- small helpers ----

  function newKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function jitter(ms) { return ms / 2 + Math.random() * ms / 2; }

  function setStatus(state, text) {
    var s = $("status");
    s.setAttribute("data-state", state);
    s.textContent = text || state;
  }

  var noticeTimer = 0;
  function notice(text) {
    var n = $("notice");
    clearTimeout(noticeTimer);
    n.textContent = text || "";
    n.hidden = !text;
    if (text) {
      noticeTimer = setTimeout(function () { n.hidden = true; }, 8000);
    }
  }

  function appPath() { return API + "/applications/" + encodeURIComponent(app.token); }
  function chatPath(n) { return appPath() + "/chats/" + n; }

  // ApiError is an answer other than 2xx.
  function ApiError(status, message, retryAfter) {
    this.status = status;
    this.message = message;
    this.retryAfter = retryAfter;
  }

  // call sends one request. It rejects with an ApiError for an answer other
  // than 2xx and with a TypeError when the network failed.
  async function call(method, path, body, key) {
    var init = { method: method, headers: { "Accept": "application/json" }, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (key) {
      init.headers["Idempotency-Key"] = key;
    }
    var res = await fetch(path, init);
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var msg = (data && data.error) || (res.status + " " + res.statusText);
      throw new ApiError(res.status, msg, Number(res.headers.get("Retry-After")) || 0);
    }
    return { data: data || {}, position: res.headers.get("Event-Position") || "" };
  }

  // write sends a write under one idempotency key, and sends it again with
  // the same key when the network failed or the api said 503 or 429: the
  // api answers a repeat with the first answer, so nothing happens twice.
  async function write(method, path, body) {
    var key = newKey();
    var wait = 250;
    for (var attempt = 1; ; attempt++) {
      try {
        return await call(method, path, body, key);
      } catch (err) {
        var retryable = err instanceof TypeError || (err instanceof ApiError && (err.status === 503 || err.status === 429));
        if (!retryable || attempt >= 8) {
          throw err;
        }
        var delay = err.retryAfter ? Math.min(err.retryAfter * 1000, 10000) : jitter(wait);
        wait = Math.min(wait * 2, 5000);
        await sleep(delay);
      }
    }
  }

  function describe(err) {
    if (err instanceof ApiError) {
      return err.message;
    }
    return "The network failed: " + (err && err.message ? err.message : String(err));
  }

  // ---- location: #app=<token>&chat=<n> ----

  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    var n = Number(p.get("chat"));
    return { token: p.get("app") || "", chat: Number.isSafeInteger(n) && n > 0 ? n : 0 };
  }

  function hashFor(token, n) {
    var p = new URLSearchParams();
    p.set("app", token);
    if (n) {
      p.set("chat", String(n));
    }
    return "#" + p.toString();
  }

  function storedToken() {
    try { return localStorage.getItem(STORE) || ""; } catch (e) { return ""; }
  }

  function storeToken(token) {
    try {
      if (token) { localStorage.setItem(STORE, token); } else { localStorage.removeItem(STORE); }
    } catch (e) { /* storage may be off; the address still holds the token */ }
  }

  // routing numbers route() calls: one that awaited while the hash changed
  // again (a chat created before the application finished loading) leaves
  // the page to the later call instead of opening the chat it was called for.
  var routing = 0;

  async function route() {
    var n = ++routing;
    var h = readHash();
    var token = h.token || storedToken();
    if (!token) {
      showSetup();
      return;
    }
    if (!h.token) {
      history.replaceState(null, "", hashFor(token, h.chat));
    }
    var switched = token !== app.token;
    if (switched && !(await openApp(token))) {
      return;
    }
    if (n !== routing) {
      return;
    }
    if (switched || h.chat !== (chat ? chat.number : 0)) {
      openChat(h.chat);
    }
  }

  // ---- applications and chats ----

  function showSetup() {
    closeStream();
    chat = null;
    app.token = "";
    $("workspace").hidden = true;
    $("setup").hidden = false;
    $("app-name").textContent = "";
    setStatus("idle", "not connected");
  }

  async function openApp(token) {
    var res;
    try {
      res = await call("GET", API + "/applications/" + encodeURIComponent(token));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        storeToken("");
        notice("No application has that token.");
        history.replaceState(null, "", location.pathname);
      } else {
        notice("Could not open the application: " + describe(err));
      }
      showSetup();
      return false;
    }
    closeStream();
    chat = null;
    app.token = token;
    app.name = res.data.name || "";
    storeToken(token);
    $("setup").hidden = true;
    $("workspace").hidden = false;
    $("app-name").textContent = app.name;
    $("token").textContent = token;
    $("chats").textContent = "";
    app.chatsBefore = null;
    loadSettings(token);
    await loadChats();
    return true;
  }

  // loadSettings shows the application's settings (read-only) and applies
  // its body limit to the compose box. A failure leaves the panel saying so.
  async function loadSettings(token) {
    var list = $("settings-list"), hooks = $("webhook-list");
    list.textContent = "";
    hooks.textContent = "";
    $("settings-version").textContent = "";
    var res;
    try {
      res = await call("GET", API + "/applications/" + encodeURIComponent(token) + "/settings");
    } catch (err) {
      list.appendChild(el("dd", "unavailable: " + describe(err)));
      return;
    }
    if (token !== app.token) {
      return;
    }
    var s = res.data;
    $("settings-version").textContent = "(version " + s.version + ")";
    var rows = [
      ["Body limit", s.max_body_bytes ? s.max_body_bytes + " bytes" : "16384 bytes (server's)"],
      ["Write rate", s.write_rate_limit || "the server's"],
      ["Events", s.events ? s.events.join(", ") : "all"],
    ];
    rows.forEach(function (r) {
      list.appendChild(el("dt", r[0]));
      list.appendChild(el("dd", r[1]));
    });
    $("compose-input").maxLength = s.max_body_bytes || 16384;
    (s.webhooks || []).forEach(function (w) {
      var state = w.active ? "active" : "paused" + (w.paused_reason ? ": " + w.paused_reason : "");
      var li = el("li", w.url + " — " + (w.events ? w.events.join(", ") : "all events") + " — " + state);
      li.className = w.active ? "hook" : "hook paused";
      hooks.appendChild(li);
    });
    if (!(s.webhooks || []).length) {
      hooks.appendChild(el("li", "No webhooks."));
    }
  }

  function el(tag, text) {
    var e = document.createElement(tag);
    e.textContent = text;
    return e;
  }

  function chatItem(n) {
    var list = $("chats");
    var li = list.querySelector('li[data-number="' + n + '"]');
    if (li) {
      return li;
    }
    li = document.createElement("li");
    li.setAttribute("data-number", String(n));
    var a = document.createElement("a");
    a.href = hashFor(app.token, n);
    a.textContent = "Chat " + n;
    li.appendChild(a);
    // Newest first, as the api lists them.
    var next = Array.from(list.children).find(function (x) { return Number(x.getAttribute("data-number")) < n; });
    list.insertBefore(li, next || null);
    return li;
  }

  function markActiveChat() {
    var n = chat ? chat.number : 0;
    Array.from($("chats").querySelectorAll("a")).forEach(function (a) {
      a.classList.toggle("active", Number(a.parentNode.getAttribute("data-number")) === n);
    });
  }

  async function loadChats() {
    var q = "?limit=" + PAGE + (app.chatsBefore ? "&before=" + app.chatsBefore : "");
    try {
      var res = await call("GET", appPath() + "/chats" + q);
      (res.data.chats || []).forEach(function (c) { chatItem(c.number); });
      app.chatsBefore = res.data.has_more && res.data.next ? res.data.next.before : null;
      $("more-chats").hidden = !app.chatsBefore;
      markActiveChat();
    } catch (err) {
      notice("Could not list the chats: " + describe(err));
    }
  }

  // ---- the open chat ----

  function newView(n) {
    return {
      number: n,
      rows: new Map(),     // number -> {li, fromEvent}
      gone: new Set(),     // numbers deleted, by an event or here
      created: new Set(),  // numbers an event created
      seen: new Set(),     // event ids received
      high: 0,             // highest message number seen
      floor: 0,            // messages below it are not loaded ("load older")
      closed: false,
    };
  }

  function openChat(n) {
    closeStream();
    clearSearch();
    $("messages").textContent = "";
    $("empty").hidden = true;
    $("older").hidden = true;
    if (!n) {
      chat = null;
      $("chat").hidden = true;
      $("no-chat").hidden = false;
      setStatus("idle", "not connected");
      markActiveChat();
      return;
    }
    chat = newView(n);
    $("chat-title").textContent = "Chat " + n;
    $("chat").hidden = false;
    $("no-chat").hidden = true;
    $("compose-input").disabled = false;
    $("send").disabled = false;
    chatItem(n);
    markActiveChat();
    start(chat);
  }

  // start loads the newest page of view v and follows its events from the
  // page's position.
  async function start(v) {
    setStatus("connecting", "loading");
    var pos = await loadNewest(v);
    if (pos === null || chat !== v) {
      return;
    }
    subscribe(v, pos);
  }

  // loadNewest reads the newest page into view v, retrying while the api is
  // unavailable or the chat is still being created. It returns the page's
  // Event-Position ("" when the api sends none), or null when given up.
  async function loadNewest(v) {
    var wait = 250;
    for (var attempt = 1; chat === v; attempt++) {
      try {
        var res = await call("GET", chatPath(v.number) + "/messages?limit=" + PAGE);
        if (chat !== v) {
          return null;
        }
        applyPage(v, res.data);
        return res.position;
      } catch (err) {
        var notFound = err instanceof ApiError && err.status === 404;
        if ((notFound && attempt >= 12) || (err instanceof ApiError && !notFound && err.status !== 503 && err.status !== 429)) {
          notice("Could not open chat " + v.number + ": " + describe(err));
          setStatus("offline", "not connected");
          return null;
        }
        setStatus("reconnecting", "reconnecting");
        await sleep(jitter(wait));
        wait = Math.min(wait * 2, 5000);
      }
    }
    return null;
  }

  // applyPage shows a page of messages (newest first) in view v and notes
  // where the next older page starts.
  function applyPage(v, data) {
    var msgs = data.messages || [];
    var lowest = 0;
    msgs.forEach(function (m) {
      lowest = lowest ? Math.min(lowest, m.number) : m.number;
      if (v.gone.has(m.number)) {
        return;
      }
      var row = v.rows.get(m.number);
      if (row && row.fromEvent) {
        return; // an event said more recently what it is
      }
      upsert(v, m.number, m.body, false);
    });
    v.floor = 0;
    if (data.has_more) {
      v.floor = data.next && data.next.before ? data.next.before : lowest;
    }
    $("older").hidden = !v.floor;
    showEmpty(v);
  }

  async function loadOlder() {
    var v = chat;
    if (!v || !v.floor) {
      return;
    }
    $("older").disabled = true;
    try {
      var res = await call("GET", chatPath(v.number) + "/messages?limit=" + PAGE + "&before=" + v.floor);
      if (chat === v) {
        applyPage(v, res.data);
      }
    } catch (err) {
      notice("Could not load older messages: " + describe(err));
    } finally {
      $("older").disabled = false;
    }
  }

  function showEmpty(v) {
    $("empty").hidden = v.rows.size > 0;
  }

  function messageRow(n) {
    var li = document.createElement("li");
    li.className = "msg";
    li.setAttribute("data-number", String(n));
    var num = document.createElement("span");
    num.className = "num";
    num.textContent = "#" + n;
    var text = document.createElement("div");
    text.className = "text";
    var body = document.createElement("span");
    body.className = "body";
    var tag = document.createElement("span");
    tag.className = "tag";
    text.append(body, tag);
    var actions = document.createElement("span");
    actions.className = "actions";
    var edit = document.createElement("button");
    edit.type = "button";
    edit.className = "small edit";
    edit.textContent = "Edit";
    var del = document.createElement("button");
    del.type = "button";
    del.className = "small delete";
    del.textContent = "Delete";
    actions.append(edit, del);
    li.append(num, text, actions);
    return li;
  }

  // upsert shows message n with body (when given), adding its row in
  // number order when it is not shown yet.
  function upsert(v, n, body, fromEvent, tag) {
    var row = v.rows.get(n);
    if (!row) {
      row = { li: messageRow(n), fromEvent: false };
      v.rows.set(n, row);
      var list = $("messages");
      var next = Array.from(list.children).find(function (x) { return Number(x.getAttribute("data-number")) > n; });
      list.insertBefore(row.li, next || null);
    }
    if (typeof body === "string") {
      row.li.querySelector(".body").textContent = body;
    }
    row.li.querySelector(".tag").textContent = tag || "";
    row.fromEvent = row.fromEvent || fromEvent;
    if (n > v.high) {
      v.high = n;
    }
    showEmpty(v);
    return row;
  }

  function remove(v, n) {
    v.gone.add(n);
    var row = v.rows.get(n);
    if (row) {
      row.li.remove();
      v.rows.delete(n);
    }
    if (n > v.high) {
      v.high = n;
    }
    showEmpty(v);
  }

  // ---- live events ----

  function closeStream() {
    clearTimeout(stream.timer);
    if (stream.es) {
      stream.es.close();
      stream.es = null;
    }
  }

  function eventsURL(v, after) {
    return chatPath(v.number) + "/events" + (after ? "?after=" + encodeURIComponent(after) : "");
  }

  // subscribe follows view v's events after position after (all from now
  // when empty). The browser reconnects on its own after a network error,
  // sending Last-Event-ID; when it gives up (an error status such as 429 or
  // 503), reconnect() starts again from the last id after a backoff.
  function subscribe(v, after) {
    closeStream();
    stream.lastId = after || "";
    var es = new EventSource(eventsURL(v, after));
    stream.es = es;
    function mine() { return stream.es === es && chat === v; }

    es.onopen = function () {
      if (!mine()) { return; }
      stream.backoff = 0;
      setStatus("connected", "connected");
    };
    es.addEventListener("ready", function (e) {
      if (!mine()) { return; }
      stream.lastId = e.lastEventId || stream.lastId;
      setStatus("connected", "connected");
    });
    EVENT_TYPES.forEach(function (t) {
      es.addEventListener(t, function (e) {
        if (mine()) { onEvent(v, e); }
      });
    });
    es.addEventListener("reset", function (e) {
      if (mine()) { onReset(v, e); }
    });
    es.addEventListener("overflow", function (e) {
      // The server closes next; the browser reconnects from this id.
      if (!mine()) { return; }
      stream.lastId = e.lastEventId || stream.lastId;
      setStatus("reconnecting", "reconnecting");
    });
    es.onerror = function () {
      if (!mine()) { return; }
      if (es.readyState === EventSource.CLOSED) {
        reconnect(v);
      } else {
        setStatus("reconnecting", "reconnecting");
      }
    };
  }

  function reconnect(v) {
    closeStream();
    setStatus("reconnecting", "reconnecting");
    var wait = Math.min(1000 * Math.pow(2, stream.backoff), 30000);
    stream.backoff++;
    stream.timer = setTimeout(async function () {
      if (chat !== v) {
        return;
      }
      // EventSource does not say why it gave up: a chat deleted meanwhile
      // answers 404 for good, so ask once before trying again.
      try {
        await call("GET", chatPath(v.number));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          if (chat === v) {
            notice("Chat " + v.number + " no longer exists.");
            setStatus("offline", "chat deleted");
          }
          return;
        }
      }
      if (chat !== v || stream.es) {
        return;
      }
      if (stream.lastId) {
        subscribe(v, stream.lastId);
      } else {
        start(v); // no position yet: load the page again
      }
    }, jitter(wait));
  }

  function onEvent(v, e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    var id = e.lastEventId || ev.id;
    stream.lastId = id || stream.lastId;
    window.icLog.push(id);
    if (v.seen.has(id)) {
      window.icDups++;
      return;
    }
    v.seen.add(id);
    if (ev.chat !== v.number) {
      return;
    }
    var n = ev.message;
    switch (ev.type) {
    case "message.created":
      if (v.created.has(n)) {
        window.icDups++;
      }
      v.created.add(n);
      if (n > v.high + 1) {
        window.icGaps++;
      }
      if (!v.gone.has(n)) {
        upsert(v, n, ev.body, true);
      }
      break;
    case "message.updated":
      // An update of a message older than the loaded pages stays there.
      if (!v.gone.has(n) && (v.rows.has(n) || n >= v.floor)) {
        upsert(v, n, ev.body, true);
      }
      break;
    case "message.deleted":
      remove(v, n);
      break;
    case "chat.deleted":
      v.closed = true;
      closeStream();
      notice("This chat was deleted.");
      setStatus("offline", "chat deleted");
      $("compose-input").disabled = true;
      $("send").disabled = true;
      break;
    }
  }

  // onReset: the events between our position and the reset's cannot be
  // served. The view is rebuilt from the newest page and followed from the
  // page's Event-Position, which covers what the page does not show yet.
  // Without one, or when resets come one after another, it is followed from
  // the reset's position instead, as the server would go on doing.
  async function onReset(v, e) {
    var at = e.lastEventId || stream.lastId;
    var again = Date.now() - stream.resetAt < 3000;
    stream.resetAt = Date.now();
    closeStream();
    setStatus("reset", "reset: reloading");
    var fresh = newView(v.number);
    chat = fresh;
    $("messages").textContent = "";
    var pos = await loadNewest(fresh);
    if (chat !== fresh || pos === null) {
      return;
    }
    subscribe(fresh, pos && !again ? pos : at);
  }

  // ---- writes ----

  async function send(text) {
    var v = chat;
    var res = await write("POST", chatPath(v.number) + "/messages", { body: text });
    var n = res.data.number;
    if (chat === v && n && !v.gone.has(n) && !v.rows.has(n)) {
      upsert(v, n, text, false, res.data.status === "pending" ? "queued" : "");
    }
    return n;
  }

  function startEdit(li) {
    if (li.querySelector("form")) {
      return;
    }
    var n = Number(li.getAttribute("data-number"));
    var text = li.querySelector(".text");
    var form = document.createElement("form");
    form.className = "edit-form";
    form.setAttribute("autocomplete", "off");
    var input = document.createElement("input");
    input.className = "edit-input";
    input.required = true;
    input.value = li.querySelector(".body").textContent;
    var save = document.createElement("button");
    save.type = "submit";
    save.className = "small save";
    save.textContent = "Save";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "small cancel";
    cancel.textContent = "Cancel";
    form.append(input, save, cancel);
    text.hidden = true;
    li.insertBefore(form, text);
    input.focus();
    function done() {
      form.remove();
      text.hidden = false;
    }
    cancel.addEventListener("click", done);
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var v = chat;
      var body = input.value;
      save.disabled = true;
      try {
        await write("PATCH", chatPath(v.number) + "/messages/" + n, { body: body });
        if (chat === v && v.rows.has(n)) {
          v.rows.get(n).li.querySelector(".body").textContent = body;
        }
        done();
      } catch (err) {
        save.disabled = false;
        notice("Could not edit message " + n + ": " + describe(err));
      }
    });
  }

  async function deleteMessage(li) {
    var v = chat;
    var n = Number(li.getAttribute("data-number"));
    li.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      await write("DELETE", chatPath(v.number) + "/messages/" + n);
      if (chat === v) {
        remove(v, n);
      }
    } catch (err) {
      li.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      notice("Could not delete message " + n + ": " + describe(err));
    }
  }

  // ---- search ----

  function clearSearch() {
    $("results").hidden = true;
    $("result-list").textContent = "";
    $("search-clear").hidden = true;
  }

  async function search(q) {
    var v = chat;
    try {
      var res = await call("GET", chatPath(v.number) + "/messages/search?q=" + encodeURIComponent(q) + "&per_page=50");
      if (chat !== v) {
        return;
      }
      var list = $("result-list");
      list.textContent = "";
      var msgs = res.data.messages || [];
      msgs.forEach(function (m) {
        var li = document.createElement("li");
        li.setAttribute("data-number", String(m.number));
        var num = document.createElement("span");
        num.className = "tag";
        num.textContent = "#" + m.number + " ";
        var body = document.createElement("span");
        body.textContent = m.body || "";
        li.append(num, body);
        list.appendChild(li);
      });
      if (!msgs.length) {
        var none = document.createElement("li");
        none.className = "hint";
        none.textContent = "No message matches.";
        list.appendChild(none);
      }
      $("results").hidden = false;
      $("search-clear").hidden = false;
    } catch (err) {
      notice("Search failed: " + describe(err));
    }
  }

  // ---- wiring ----

  function onSubmit(id, fn) {
    $(id).addEventListener("submit", function (ev) {
      ev.preventDefault();
      fn(ev.target);
    });
  }

  onSubmit("create-app", async function (form) {
    var name = $("app-name-input").value.trim();
    var btn = form.querySelector("button");
    btn.disabled = true;
    try {
      var res = await write("POST", API + "/applications", { name: name });
      $("app-name-input").value = "";
      location.hash = hashFor(res.data.token, 0);
    } catch (err) {
      notice("Could not create the application: " + describe(err));
    } finally {
      btn.disabled = false;
    }
  });

  onSubmit("open-app", function () {
    var token = $("token-input").value.trim();
    if (token) {
      $("token-input").value = "";
      location.hash = hashFor(token, 0);
    }
  });

  $("new-chat").addEventListener("click", async function (ev) {
    var btn = ev.target;
    btn.disabled = true;
    try {
      var res = await write("POST", appPath() + "/chats", {});
      chatItem(res.data.number);
      location.hash = hashFor(app.token, res.data.number);
    } catch (err) {
      notice("Could not create a chat: " + describe(err));
    } finally {
      btn.disabled = false;
    }
  });

  $("more-chats").addEventListener("click", loadChats);
  $("older").addEventListener("click", loadOlder);

  $("forget").addEventListener("click", function () {
    storeToken("");
    history.replaceState(null, "", location.pathname);
    showSetup();
  });

  onSubmit("compose", async function () {
    var input = $("compose-input");
    var text = input.value;
    if (!text.trim() || !chat) {
      return;
    }
    input.value = "";
    try {
      await send(text);
    } catch (err) {
      input.value = input.value || text;
      notice("Could not send: " + describe(err));
    }
  });

  onSubmit("search", function () {
    var q = $("search-input").value.trim();
    if (q && chat) {
      search(q);
    } else {
      clearSearch();
    }
  });
  $("search-clear").addEventListener("click", function () {
    $("search-input").value = "";
    clearSearch();
  });

  $("messages").addEventListener("click", function (ev) {
    var btn = ev.target.closest("button");
    var li = ev.target.closest("li.msg");
    if (!btn || !li) {
      return;
    }
    if (btn.classList.contains("edit")) {
      startEdit(li);
    } else if (btn.classList.contains("delete")) {
      deleteMessage(li);
    }
  });

  $("result-list").addEventListener("click", function (ev) {
    var li = ev.target.closest("li[data-number]");
    var row = li && chat && chat.rows.get(Number(li.getAttribute("data-number")));
    if (row) {
      row.li.scrollIntoView({ block: "center" });
      row.li.classList.add("flash");
      setTimeout(function () { row.li.classList.remove("flash"); }, 1500);
    }
  });

  window.addEventListener("hashchange", route);
  route();
})();
