// The chat widget for a company's own web site: one tag on any page,
//   <script src="https://chat.example.com/widget.js" async></script>
// draws a chat bubble and opens the chat in an iframe of the chat's origin (docs/widget.md).
// The bubble lives in a shadow root, so the site's styles and ours never mix; the
// conversation itself never touches the site's page (it stays in the iframe).
"use strict";

(() => {
  const script = document.currentScript;
  if (!script || window.__aftersalesWidget) return;
  window.__aftersalesWidget = true;
  const origin = new URL(script.src).origin;
  const OPEN_KEY = "aftersales-widget-open";   // the panel stays open from page to page of the site

  const holder = document.createElement("div");
  holder.setAttribute("data-aftersales-widget", "");
  const root = holder.attachShadow({ mode: "open" });
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = `${origin}/widget.css`;

  const bubble = document.createElement("button");
  bubble.type = "button";
  bubble.className = "bubble";
  bubble.hidden = true;   // shown once the chat answered: never a bubble that opens nothing
  bubble.setAttribute("aria-expanded", "false");
  bubble.setAttribute("aria-haspopup", "dialog");
  const logo = document.createElement("img");
  logo.alt = "";
  logo.className = "logo";
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.innerHTML = '<path d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6A.5.5 0 0 1 5 19.2V16h.5A1.5 1.5 0 0 1 4 14.5z"/>';
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  badge.setAttribute("aria-hidden", "true");
  bubble.append(icon, badge);

  const panel = document.createElement("div");
  panel.className = "panel";
  panel.setAttribute("role", "dialog");
  panel.hidden = true;
  const frame = document.createElement("iframe");
  frame.src = `${origin}/widget/#host=${encodeURIComponent(location.origin)}`;
  frame.allow = "geolocation";
  frame.title = "Chat";
  panel.append(frame);
  root.append(style, panel, bubble);

  let labels = { open: "Open the chat", close: "Close the chat", unread: "%(count)s unread" };
  let unread = 0;

  function label() {
    const base = panel.hidden ? labels.open : labels.close;
    return unread ? `${base} (${labels.unread.replace("%(count)s", unread)})` : base;
  }

  function post(message) {
    frame.contentWindow?.postMessage({ aftersales: 1, ...message }, origin);
  }

  function show(open, focus) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    bubble.setAttribute("aria-label", label());
    holder.classList.toggle("open", open);
    bubble.classList.toggle("open", open);
    sessionStorage.setItem(OPEN_KEY, open ? "1" : "0");
    post({ type: open ? "open" : "closed" });
    if (open) frame.focus();
    else if (focus) bubble.focus();   // closing returns the keyboard to the bubble
  }

  bubble.addEventListener("click", () => show(panel.hidden, true));

  window.addEventListener("message", (event) => {
    if (event.origin !== origin || event.source !== frame.contentWindow || !event.data || event.data.aftersales !== 1) return;
    const news = event.data;
    if (news.type === "brand") {
      labels = { open: news.open || labels.open, close: news.close || labels.close, unread: news.unread || labels.unread };
      frame.title = news.name || frame.title;
      panel.setAttribute("aria-label", news.name || "Chat");
      holder.style.setProperty("--accent", news.colours.primary);
      holder.style.setProperty("--on-accent", news.colours.on_primary);
      const rtl = getComputedStyle(document.documentElement).direction === "rtl";
      holder.dataset.side = (news.position === "left") !== rtl ? "left" : "right";
      if (news.logo) {
        logo.src = origin + news.logo;
        icon.replaceWith(logo);
      }
      bubble.hidden = false;
      bubble.setAttribute("aria-label", label());
      if (sessionStorage.getItem(OPEN_KEY) === "1" && panel.hidden) show(true, false);
    } else if (news.type === "unread") {
      unread = panel.hidden || document.visibilityState !== "visible" ? news.count : 0;
      badge.textContent = unread > 9 ? "9+" : String(unread);
      badge.hidden = !unread;
      bubble.setAttribute("aria-label", label());
    } else if (news.type === "close") {
      show(false, true);
    }
  });

  (document.body || document.documentElement).append(holder);
})();
