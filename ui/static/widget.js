/* Concierge widget: add one tag to any page whose origin is in CONCIERGE_EMBED_ORIGINS:
 *   <script src="https://concierge.example/widget.js" data-title="Ask us" data-color="#0f766e"
 *           data-text-color="#ffffff" data-lang="en" data-user-id="customer-42"
 *           data-user-expires="1767225600" data-user-signature="(hex HMAC-SHA256, made by your server)"></script>
 * It adds a chat bubble; the chat opens in an iframe served by the Concierge server. The user id and its
 * signature go to the iframe by postMessage, never in its URL. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__conciergeWidget) return;
  window.__conciergeWidget = true;
  var base = new URL(script.src, window.location.href).origin;
  var d = script.dataset;
  function colour(value, fallback) {
    return value && window.CSS && CSS.supports("color", value) ? value : fallback;
  }
  var title = (d.title || "Concierge").slice(0, 80);
  var accent = colour(d.color, "#2563eb");
  var ink = colour(d.textColor, "#ffffff");
  var lang = d.lang === "zh" ? "zh" : "en";
  var params = new URLSearchParams({ title: title, color: accent, text: ink, lang: lang });
  var user = d.userId ? { user_id: d.userId.slice(0, 200), user_expires: parseInt(d.userExpires, 10) || null,
                          user_signature: d.userSignature || null } : null;
  var openKey = "concierge-widget-open";

  var bubble = document.createElement("button");
  bubble.type = "button";
  bubble.id = "concierge-bubble";
  bubble.setAttribute("aria-label", title);
  bubble.title = title;
  // a speech bubble drawn as SVG: an emoji would need an emoji font on the visitor's machine
  var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "28");
  svg.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  bubble.appendChild(svg);
  bubble.style.cssText = "position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
    "border:none;cursor:pointer;font-size:26px;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646;";
  bubble.style.background = accent;
  bubble.style.color = ink;

  var frame = null;
  // the frame asks who the user is once it has loaded; only our own frame, from our own server, is answered
  window.addEventListener("message", function (ev) {
    if (!frame || ev.source !== frame.contentWindow || ev.origin !== base) return;
    if (ev.data && ev.data.type === "concierge-ready") {
      frame.contentWindow.postMessage({ type: "concierge-identity", user: user }, base);
    }
  });
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "concierge-frame";
      frame.title = title;
      frame.src = base + "/widget?" + params.toString();
      frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:370px;height:540px;max-width:calc(100vw - 40px);" +
        "max-height:calc(100vh - 110px);border:1px solid #d0d4da;border-radius:12px;background:#fff;" +
        "box-shadow:0 8px 30px rgba(0,0,0,.25);z-index:2147483647;";
      document.body.appendChild(frame);
    }
    frame.style.display = "block";
    bubble.setAttribute("aria-expanded", "true");
    try { sessionStorage.setItem(openKey, "1"); } catch (e) { /* storage off: fine */ }
  }
  function close() {
    if (frame) frame.style.display = "none";
    bubble.setAttribute("aria-expanded", "false");
    try { sessionStorage.removeItem(openKey); } catch (e) { /* storage off: fine */ }
  }
  bubble.addEventListener("click", function () {
    if (frame && frame.style.display !== "none") close(); else open();
  });
  function mount() {
    document.body.appendChild(bubble);
    var wasOpen = false;
    try { wasOpen = sessionStorage.getItem(openKey) === "1"; } catch (e) { /* storage off */ }
    if (wasOpen) open();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
