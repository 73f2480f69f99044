// The service chat in the browser: the full page at / and the widget's iframe at
// /widget/ (opened by widget.js on a company's site). The frame protocol is described
// in bot/channels/web.py. All text is rendered with textContent: customer and bot
// texts are never parsed as HTML.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const list = $("#log"), scroller = $("#messages"), composer = $("#composer"), input = $("#text");
  const sendButton = $("#send"), picker = $("#language"), statusLine = $("#status"), forgetButton = $("#forget");
  const fileInput = $("#file"), earlierButton = $("#earlier"), typingLine = $("#typing");
  const soundButton = $("#sound"), closeButton = $("#close");
  const away = $("#away"), reachForm = $("#reach"), reachInput = $("#reach-value"), reachError = $("#reach-error");

  // In the widget: the embedding page's origin (given by widget.js) is where our news goes.
  const embedded = location.pathname.startsWith("/widget/");
  const host = new URLSearchParams(location.hash.slice(1)).get("host");
  let open = !embedded;          // the widget's panel is shown (the full page always is)

  let ui = { connecting: "Connecting…", offline: "Connection lost. Reconnecting…" };
  let brand = null;
  let socket = null;
  let attempts = 0;             // reconnects since the last hello, for the back-off
  let zoneSent = false;         // the browser's time zone goes with the first frame of a connection
  let forgotten = false;        // "forget this device": no reconnecting
  let more = null;              // cursor of the history page before the oldest shown
  let unread = 0, lastSeen = 0, newest = 0;
  let typingTimer = null;
  let sound = remembered("chat-sound") === "on";   // off unless the customer turned it on
  const pending = new Map();    // client id -> frame the server has not acked yet
  const shown = new Map();      // message id -> its element (de-duplication, `replaces`)
  const RTL = /^(ar|he|fa|ur)/;

  // The page's storage: a browser may refuse it inside another site's page (then nothing is kept).
  function remembered(key) {
    try { return localStorage.getItem(key); } catch (error) { return null; }
  }

  function remember(key, value) {
    try { localStorage.setItem(key, value); } catch (error) { /* refused: the choice lasts this page */ }
  }

  function tell(message) {
    if (embedded && host && window.parent !== window) window.parent.postMessage({ aftersales: 1, ...message }, host);
  }

  // A random client id; crypto.randomUUID exists only in secure contexts.
  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  // Keep the newest message in view, unless the customer scrolled up to read.
  function append(node) {
    const atBottom = nearBottom();
    list.append(node);
    if (atBottom || node.classList.contains("mine")) scroller.scrollTop = scroller.scrollHeight;
  }

  // --- rendering ------------------------------------------------------------

  function clock(at) {
    const time = el("time", "at");
    const when = at ? new Date(at) : new Date();
    time.dateTime = when.toISOString();
    const today = when.toDateString() === new Date().toDateString();
    const options = today ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    time.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, options).format(when);
    return time;
  }

  // Who said it, for screen readers (the side and colour say it to the eye).
  function who(mine) {
    return el("span", "visually-hidden who", `${mine ? ui.you || "You" : brand?.name || ui.us || "Service"}: `);
  }

  function setState(bubble, state) {
    const mark = bubble.querySelector(".state");
    if (!mark) return;
    bubble.dataset.state = state;
    mark.textContent = state === "sending" ? "🕓" : state === "failed" ? "!" : "✓";
    mark.setAttribute("aria-label", ui[state] || state);
    mark.title = ui[state] || state;
    bubble.classList.toggle("sending", state === "sending");
    bubble.classList.toggle("failed", state === "failed");
  }

  function mineBubble(id, text, at, state) {
    const bubble = el("div", "msg mine");
    const body = el("div", "text", text);
    body.dir = "auto";  // each message in its own writing direction (a Latin address on an Arabic page)
    const meta = el("div", "meta");
    const mark = el("span", "state");
    mark.setAttribute("role", "img");
    meta.append(clock(at), mark);
    bubble.append(who(true), body, meta);
    shown.set(id, bubble);
    setState(bubble, state);
    return bubble;
  }

  function addMine(id, text, at) {
    if (shown.has(id)) return;
    append(mineBubble(id, text, at, pending.has(id) ? "sending" : "delivered"));
  }

  function addNote(text) {
    append(el("div", "note", text));
  }

  function replyBubble(frame) {
    const bubble = el("div", "msg bot");
    bubble.dataset.id = frame.id;
    const body = el("div", "text", frame.text);
    body.dir = "auto";
    bubble.append(who(false), body);
    for (const file of frame.files || []) bubble.append(fileLink(file));
    const choices = frame.choices || [];
    if (choices.length) {
      const box = el("div", "choices");
      const main = el("div", "options"), nav = el("div", "nav");
      for (const [id, label] of choices) {
        const button = el("button", "choice", label);
        button.type = "button";
        button.addEventListener("click", () => choose(bubble, button, id, label, frame));
        (id.startsWith("nav:") ? nav : main).append(button);
      }
      box.append(...[main, nav].filter((row) => row.childElementCount));
      bubble.append(box);
    }
    if (frame.request === "location") {
      const share = el("button", "share", frame.request_label || ui.share_location);
      share.type = "button";
      share.addEventListener("click", () => shareLocation(share));
      bubble.append(share);
    }
    const meta = el("div", "meta");
    meta.append(clock(frame.at));
    bubble.append(meta);
    shown.set(frame.id, bubble);
    return bubble;
  }

  // An edit of an earlier message: new text, and its buttons are gone.
  function edit(frame) {
    const old = shown.get(frame.replaces);
    if (old) {
      old.querySelector(".text").textContent = frame.text;
      old.querySelectorAll(".choices, .share").forEach((node) => node.remove());
    }
  }

  function addReply(frame, live) {
    if (frame.replaces != null) return edit(frame);
    if (shown.has(frame.id)) return;
    const bubble = replyBubble(frame);
    // Back / Start over / Cancel act on the current question wherever they are
    // pressed: only the newest row is kept, older ones would be clutter.
    if (bubble.querySelector(".nav")) list.querySelectorAll(".nav").forEach((row) => row.remove());
    append(bubble);
    newest = Math.max(newest, frame.id);
    if (live) {
      stopTyping();
      if (!open || document.visibilityState !== "visible") {
        unread += 1;
        tell({ type: "unread", count: unread });
        if (sound) beep();
      }
      seen();
    }
  }

  // A file an agent sent: a photo shows, anything else is a link.
  function fileLink(file) {
    const link = el("a", "file", file.kind === "photo" ? "" : `📎 ${file.name || file.kind}`);
    link.href = file.url;
    link.target = "_blank";
    link.rel = "noopener";
    if (file.kind === "photo") {
      const image = el("img");
      image.src = file.url;
      image.alt = file.name || ui.attach || "";
      link.append(image);
    }
    return link;
  }

  // A photo or document from the customer: uploaded over HTTP (the server checks it).
  async function upload(file) {
    const id = newId();
    pending.set(id, { id, type: "upload" });
    addMine(id, `📎 ${file.name}`);
    const body = new FormData();
    body.append("id", id);
    body.append("file", file);
    showTyping("bot");
    let ok = false;
    try {
      ok = (await fetch("upload", { method: "POST", body, credentials: "same-origin" })).ok;
    } catch (error) {
      ok = false;
    }
    pending.delete(id);
    const bubble = shown.get(id);
    if (bubble) setState(bubble, ok ? "delivered" : "failed");
    if (!ok) stopTyping();
  }

  // A page of history as elements, oldest first; edits change the messages they replace.
  function historyNodes(items) {
    const nodes = [];
    for (const item of items) {
      if (shown.has(item.id)) continue;
      if (item.type === "reply" && item.replaces != null) edit(item);
      else nodes.push(item.type === "reply" ? replyBubble(item) : mineBubble(item.id, item.text, item.at, "delivered"));
    }
    // Back / Start over / Cancel: only the newest row is kept (as when they arrive live).
    const rows = nodes.flatMap((node) => [...node.querySelectorAll(".nav")]);
    rows.slice(0, -1).forEach((row) => row.remove());
    return nodes;
  }

  // --- typing, seen, sound ----------------------------------------------------

  function showTyping(whoTypes) {
    typingLine.querySelector(".typing-text").textContent = whoTypes === "agent" ? ui.agent_typing : ui.bot_typing;
    typingLine.hidden = false;
    if (nearBottom()) scroller.scrollTop = scroller.scrollHeight;
    clearTimeout(typingTimer);
    // No reply after a while: nobody is typing any more (a person may pause).
    typingTimer = setTimeout(stopTyping, whoTypes === "agent" ? 6000 : 8000);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    typingLine.hidden = true;
  }

  // Our messages the customer has in front of them: their "seen" state on the server.
  function seen() {
    if (!open || document.visibilityState !== "visible" || newest <= lastSeen) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    lastSeen = newest;
    socket.send(JSON.stringify({ type: "seen", upto: newest }));
  }

  function beep() {
    try {
      const audio = new AudioContext(), tone = audio.createOscillator(), gain = audio.createGain();
      tone.frequency.value = 660;
      gain.gain.value = 0.05;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.12);
    } catch (error) { /* no audio: nothing to do */ }
  }

  function showSound() {
    const label = sound ? ui.sound_on : ui.sound_off;
    soundButton.setAttribute("aria-pressed", String(sound));
    soundButton.setAttribute("aria-label", label || "Sound");
    soundButton.title = label || "Sound";
    soundButton.classList.toggle("on", sound);
  }

  soundButton.addEventListener("click", () => {
    sound = !sound;
    remember("chat-sound", sound ? "on" : "off");
    showSound();
  });

  function markRead() {
    unread = 0;
    tell({ type: "unread", count: 0 });
    seen();
  }

  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && open) markRead(); });

  // --- sending --------------------------------------------------------------

  // What the customer sees of their own frame at once: what they typed, the
  // button they pressed, the place they shared (the automatic /start is not theirs).
  function echo(frame) {
    if (frame.type === "text") return frame.text === "/start" ? null : frame.text;
    if (frame.type === "choice") return frame.label || null;
    if (frame.type === "location") return `📍 ${frame.lat.toFixed(5)}, ${frame.lon.toFixed(5)}`;
    return null;
  }

  function timeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
    } catch (error) {
      return undefined;
    }
  }

  function send(frame) {
    frame.id = newId();
    frame.language = navigator.language;
    if (!zoneSent) {
      frame.timezone = timeZone();
      zoneSent = true;
    }
    pending.set(frame.id, frame);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    if (echo(frame) !== null) addMine(frame.id, echo(frame));
    // A share button belongs to the current question only.
    list.querySelectorAll(".share").forEach((node) => node.remove());
  }

  function choose(bubble, button, choice, label, frame) {
    // No double presses: the server replaces this message with the choice.
    bubble.querySelectorAll(".choice").forEach((b) => { b.disabled = true; });
    button.classList.add("chosen");
    send({ type: "choice", choice, origin: frame.id, label });
    input.focus();  // the pressed button is gone: focus goes where the next answer is typed
  }

  function shareLocation(button) {
    const denied = () => addNote(ui.location_denied);
    if (!navigator.geolocation) return denied();
    button.disabled = true;
    navigator.geolocation.getCurrentPosition((position) => {
      send({ type: "location", lat: position.coords.latitude, lon: position.coords.longitude });
    }, () => { button.disabled = false; denied(); }, { timeout: 20000, maximumAge: 60000 });
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    resize();
    send({ type: "text", text });
    input.focus();
  });

  // Enter sends, Shift+Enter is a new line; not while an IME is composing (Chinese input).
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  function resize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }
  input.addEventListener("input", resize);

  fileInput.addEventListener("change", () => {
    for (const file of fileInput.files) upload(file);
    fileInput.value = "";
  });

  picker.addEventListener("change", () => send({ type: "choice", choice: `lang:${picker.value}` }));

  earlierButton.addEventListener("click", () => {
    if (more && socket && socket.readyState === WebSocket.OPEN) {
      earlierButton.disabled = true;
      socket.send(JSON.stringify({ type: "earlier", before: more }));
    }
  });

  reachForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = reachInput.value.trim();
    if (!value || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "reach", value, id: newId() }));
  });

  // "Forget this device": the server ends the session; a reload starts a new, empty chat.
  forgetButton.addEventListener("click", () => {
    if (!window.confirm(ui.forget_confirm)) return;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "forget" }));
  });

  // --- the widget's panel -------------------------------------------------------

  if (embedded) {
    document.body.classList.add("embedded");
    closeButton.hidden = false;
    closeButton.addEventListener("click", () => tell({ type: "close" }));
    document.addEventListener("keydown", (event) => { if (event.key === "Escape") tell({ type: "close" }); });
    window.addEventListener("message", (event) => {
      if (event.origin !== host || !event.data || event.data.aftersales !== 1) return;
      if (event.data.type === "open") {
        open = true;
        markRead();
        scroller.scrollTop = scroller.scrollHeight;
        input.focus();
      } else if (event.data.type === "closed") {
        open = false;
      }
    });
  }

  // --- server frames ----------------------------------------------------------

  function applyBrand(frame) {
    brand = frame;
    const root = document.documentElement.style;
    root.setProperty("--accent", frame.colours.primary);
    root.setProperty("--accent-strong", frame.colours.primary);
    root.setProperty("--mine-text", frame.colours.on_primary);
    root.setProperty("--on-accent", frame.colours.on_primary);
    const logo = $("#brand-logo");
    if (frame.logo) {
      logo.src = frame.logo;
      logo.hidden = false;
      $("#default-logo").setAttribute("hidden", "");  // an SVG element has no `hidden` property
    }
    $("#hours").textContent = frame.hours || "";
    $("#hours").hidden = !frame.hours;
    away.hidden = !frame.away || reachForm.dataset.done === "1";
    $("#away-text").textContent = frame.away || "";
    tell({ type: "brand", name: frame.name || ui.title, colours: frame.colours, position: frame.position,
           logo: frame.logo, open: ui.open_chat, close: ui.close_chat, unread: ui.unread });
  }

  function applyUi(locale, strings) {
    ui = { ...ui, ...strings };
    document.documentElement.lang = locale.replace("_", "-");
    document.documentElement.dir = RTL.test(locale) ? "rtl" : "ltr";
    const title = brand?.name || ui.title;
    document.title = title;
    $("#title").textContent = title;
    $("#language-label").textContent = ui.language;
    $("#messages-label").textContent = ui.messages;
    input.placeholder = ui.placeholder;
    input.setAttribute("aria-label", ui.placeholder);
    sendButton.textContent = ui.send;
    earlierButton.textContent = ui.earlier;
    forgetButton.querySelector(".label").textContent = ui.forget;
    forgetButton.title = ui.forget;
    forgetButton.setAttribute("aria-label", ui.forget);
    closeButton.title = ui.close_chat;
    closeButton.setAttribute("aria-label", ui.close_chat);
    $("#reach-ask").textContent = ui.reach_ask;
    reachInput.placeholder = ui.reach_label;
    $("#reach-send").textContent = ui.reach_send;
    $("#attach-label").textContent = ui.attach;
    fileInput.parentElement.title = ui.attach;
    showSound();
    picker.replaceChildren(...Object.entries(ui.languages || {}).map(([code, name]) => {
      const option = el("option", "", name);
      option.value = code;
      return option;
    }));
    picker.value = locale;
  }

  function showMore(cursor) {
    more = cursor;
    earlierButton.hidden = !more;
    earlierButton.disabled = false;
  }

  function hello(frame) {
    attempts = 0;
    zoneSent = false;
    setStatus("");  // connected: the server knows us and sent the history
    brand = frame.brand;
    applyUi(frame.locale, frame.ui);
    applyBrand(frame.brand);
    // The server's history is the truth: draw it afresh (it may overlap what we showed).
    shown.clear();
    list.replaceChildren(...historyNodes(frame.history));
    newest = Math.max(0, ...frame.history.filter((item) => item.type === "reply").map((item) => item.id));
    showMore(frame.more);
    // Frames not acked before the connection dropped: again, with the same id
    // (the server de-duplicates them).
    for (const pendingFrame of pending.values()) {
      if (pendingFrame.type === "upload") continue;
      if (echo(pendingFrame) !== null) addMine(pendingFrame.id, echo(pendingFrame));
      socket.send(JSON.stringify(pendingFrame));
    }
    if (!frame.history.length && !pending.size) send({ type: "text", text: "/start" });
    scroller.scrollTop = scroller.scrollHeight;
    seen();
  }

  function earlier(frame) {
    // Older messages go on top; the customer keeps their place in the conversation.
    const before = scroller.scrollHeight;
    const fresh = historyNodes(frame.history);
    if (list.querySelector(".nav")) fresh.forEach((node) => node.querySelectorAll(".nav").forEach((row) => row.remove()));
    list.prepend(...fresh);
    scroller.scrollTop += scroller.scrollHeight - before;
    showMore(frame.more);
    fresh[fresh.length - 1]?.setAttribute("tabindex", "-1");
    if (!more) input.focus();
  }

  function receive(frame) {
    switch (frame.type) {
      case "hello": return hello(frame);
      case "ui": return applyUi(frame.locale, frame.ui);
      case "reply": return addReply(frame, true);
      case "typing": return showTyping(frame.who);
      case "earlier": return earlier(frame);
      case "ack": {
        pending.delete(frame.id);
        const bubble = shown.get(frame.id);
        if (bubble) setState(bubble, "delivered");
        return;
      }
      case "reached":
        reachForm.dataset.done = "1";
        away.hidden = true;
        addNote(frame.text);
        return input.focus();
      case "error":
        if (frame.id) pending.delete(frame.id);
        if (frame.field === "reach") {
          reachError.textContent = frame.text;
          reachInput.setAttribute("aria-invalid", "true");
          return reachInput.focus();
        }
        stopTyping();
        return addNote(frame.text);
      case "forgotten":
        forgotten = true;
        pending.clear();
        return location.reload();
    }
  }

  // --- connection -------------------------------------------------------------

  function setStatus(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
    document.body.classList.toggle("offline", Boolean(text));
  }

  function connect() {
    const url = new URL("ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    setStatus(attempts ? ui.offline : ui.connecting);
    socket = new WebSocket(url);
    socket.addEventListener("message", (event) => {
      try {
        receive(JSON.parse(event.data));
      } catch (error) {
        console.warn("bad frame from the server", error);
      }
    });
    socket.addEventListener("close", () => {
      if (forgotten) return;
      // Back-off: 0.5 s, 1 s, 2 s … up to 30 s, with some jitter.
      const delay = Math.min(30000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4);
      attempts += 1;
      setStatus(ui.offline);
      setTimeout(connect, delay);
    });
  }

  connect();
})();
