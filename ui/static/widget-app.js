/* The chat inside the widget iframe. It uses only /api/v1 on its own server; every text from the user
 * or the catalog is put into the page with textContent, never as HTML. */
(function () {
  "use strict";
  var q = new URLSearchParams(window.location.search);
  function colour(value, fallback) { return value && CSS.supports("color", value) ? value : fallback; }
  var lang = q.get("lang") === "zh" ? "zh" : "en";
  var user = null;  // {user_id, user_expires, user_signature} from the host page (postMessage), or anonymous
  var T = {
    en: { placeholder: "Tell me a movie or book you loved...", send: "Send", fresh: "New",
          like: "Like", dislike: "Not for me", seen: "Seen it", busy: "Too many messages; wait a moment.",
          pending: "Still answering your last message; wait for it.", failed: "Something went wrong; please try again." },
    zh: { placeholder: "告诉我你喜欢的电影或书……", send: "发送", fresh: "新对话",
          like: "喜欢", dislike: "不喜欢", seen: "看过", busy: "消息太多了，请稍等。",
          pending: "上一条消息还在回答中，请稍等。", failed: "出错了，请再试一次。" }
  }[lang];
  document.documentElement.lang = lang;
  document.documentElement.style.setProperty("--accent", colour(q.get("color"), "#2563eb"));
  document.documentElement.style.setProperty("--ink", colour(q.get("text"), "#ffffff"));
  var title = (q.get("title") || "Concierge").slice(0, 80);
  document.title = title;
  document.getElementById("w-title").textContent = title;
  var log = document.getElementById("w-log");
  var cardsEl = document.getElementById("w-cards");
  var errorEl = document.getElementById("w-error");
  var input = document.getElementById("w-msg");
  var sendBtn = document.getElementById("w-send");
  input.placeholder = T.placeholder;
  sendBtn.textContent = T.send;
  document.getElementById("w-new").textContent = T.fresh;

  var key = "concierge-session:anonymous";
  var session = null;
  function load() {
    key = "concierge-session:" + (user && user.user_id ? user.user_id : "anonymous");
    try { session = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { session = null; }
  }
  function gone(status) { return status === 401 || status === 403 || status === 404 || status === 410; }
  function problem(status) { return status === 429 ? T.busy : status === 409 ? T.pending : T.failed; }

  function save() {
    try {
      if (session) localStorage.setItem(key, JSON.stringify(session)); else localStorage.removeItem(key);
    } catch (e) { /* storage off: the conversation lasts as long as the page */ }
  }
  function headers() {
    return { "Content-Type": "application/json", "Authorization": "Bearer " + session.token };
  }
  function showError(text) { errorEl.textContent = text; errorEl.hidden = !text; }
  function bubble(role, text) {
    var div = document.createElement("div");
    div.className = "w-msg " + (role === "user" ? "w-user" : "w-bot");
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }
  function renderCards(recs, state) {
    cardsEl.textContent = "";
    var marks = {};
    (state && state.seen || []).forEach(function (i) { marks[i] = "seen"; });
    (state && state.disliked || []).forEach(function (i) { marks[i] = "dislike"; });
    (state && state.liked || []).forEach(function (i) { marks[i] = "like"; });
    recs.forEach(function (rec) {
      var card = document.createElement("div");
      card.className = "rec-card";
      card.dataset.itemId = rec.item_id;
      var t = document.createElement("div");
      t.className = "rec-title";
      t.textContent = rec.title + (rec.year ? " (" + rec.year + ")" : "");
      var actions = document.createElement("div");
      actions.className = "rec-actions";
      ["like", "dislike", "seen"].forEach(function (kind) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "rec-" + kind;
        b.textContent = T[kind];
        b.setAttribute("aria-pressed", marks[rec.item_id] === kind ? "true" : "false");
        b.addEventListener("click", function () { feedback(rec.item_id, kind, actions, b); });
        actions.appendChild(b);
      });
      card.appendChild(t);
      if (rec.facts && rec.facts.length) {  // price, rating, stock: from the catalog record
        var f = document.createElement("div");
        f.className = "rec-facts";
        f.textContent = rec.facts.join(" · ");
        card.appendChild(f);
      }
      card.appendChild(actions);  // its reason is in the reply, once
      cardsEl.appendChild(card);
    });
  }
  function feedback(itemId, kind, actions, button) {
    if (!session) return;
    fetch("/api/v1/sessions/" + encodeURIComponent(session.session_id) + "/feedback", {
      method: "POST", headers: headers(), body: JSON.stringify({ item_id: itemId, kind: kind })
    }).then(function (res) {
      if (!res.ok) { showError(problem(res.status)); return; }
      actions.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
      button.setAttribute("aria-pressed", "true");
    });
  }
  function start() {
    return fetch("/api/v1/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(user && user.user_id ? user : {})
    }).then(function (res) {
      if (!res.ok) throw new Error("session " + res.status);
      return res.json();
    }).then(function (body) {
      session = { session_id: body.session_id, token: body.token };
      save();
    });
  }
  function restore() {
    if (!session) return Promise.resolve();
    return fetch("/api/v1/sessions/" + encodeURIComponent(session.session_id) + "/turns", { headers: headers() })
      .then(function (res) {
        if (gone(res.status)) { session = null; save(); return; }
        if (!res.ok) return;
        return res.json().then(function (body) {
          var last = [];
          body.turns.forEach(function (t) {
            bubble("user", t.user);
            bubble("bot", t.reply);
            if (t.recommendations.length) last = t.recommendations;
          });
          renderCards(last, null);
        });
      });
  }
  function parseEvents(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    for (var i = 0; i < parts.length - 1; i++) {
      var name = "message", data = "";
      parts[i].split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) name = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(name, JSON.parse(data));
    }
    return parts[parts.length - 1];
  }
  function send(text) {
    showError("");
    bubble("user", text);
    var bot = bubble("bot", "");
    sendBtn.disabled = true;
    var ready = session ? Promise.resolve() : start();
    return ready.then(function () {
      return fetch("/api/v1/sessions/" + encodeURIComponent(session.session_id) + "/messages/stream", {
        method: "POST", headers: headers(), body: JSON.stringify({ text: text })
      });
    }).then(function (res) {
      if (!res.ok) {
        bot.remove();
        showError(problem(res.status));
        if (gone(res.status)) { session = null; save(); }
        return;
      }
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
            if (name === "token") bot.textContent += data.text;
            else if (name === "recommendations") renderCards(data.recommendations, data.state);
            else if (name === "done") bot.textContent = data.reply;
            else if (name === "error") showError(T.failed);
            log.scrollTop = log.scrollHeight;
          });
          return pump();
        });
      };
      return pump();
    }).catch(function () { showError(T.failed); }).then(function () { sendBtn.disabled = false; });
  }
  document.getElementById("w-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  document.getElementById("w-new").addEventListener("click", function () {
    session = null; save();
    log.textContent = ""; cardsEl.textContent = ""; showError("");
  });
  // Embedded: wait for the host page to say who the user is (its answer may be "anonymous"). Opened on its
  // own: anonymous at once.
  function ready() { load(); sendBtn.disabled = false; restore(); }
  sendBtn.disabled = true;
  if (window.parent === window) { ready(); return; }
  var started = false;
  window.addEventListener("message", function (ev) {
    if (started || ev.source !== window.parent || !ev.data || ev.data.type !== "concierge-identity") return;
    started = true;
    var u = ev.data.user;
    user = u && typeof u.user_id === "string" ? { user_id: u.user_id.slice(0, 200), user_expires: u.user_expires,
                                                  user_signature: u.user_signature } : null;
    ready();
  });
  window.parent.postMessage({ type: "concierge-ready" }, "*");
})();
