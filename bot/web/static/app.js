// The service chat in the browser. The frame protocol is described in
// bot/channels/web.py. All text is rendered with textContent: customer and
// bot texts are never parsed as HTML.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const list = $("#messages"), composer = $("#composer"), input = $("#text");
  const sendButton = $("#send"), picker = $("#language"), statusLine = $("#status"), forgetButton = $("#forget");
  const fileInput = $("#file");
  if (fileInput) {
    fileInput.addEventListener("change", () => {
      for (const file of fileInput.files) upload(file);
      fileInput.value = "";
    });
  }

  let ui = { connecting: "Connecting…", offline: "Connection lost. Reconnecting…" };
  let socket = null;
  let attempts = 0;             // reconnects since the last hello, for the back-off
  let zoneSent = false;         // the browser's time zone goes with the first frame of a connection
  let forgotten = false;        // "forget this device": no reconnecting
  const pending = new Map();    // client id -> frame the server has not acked yet
  const shown = new Map();      // message id -> its element (de-duplication, `replaces`)

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

  // Keep the newest message in view, unless the customer scrolled up to read.
  function append(node) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.append(node);
    if (atBottom || node.classList.contains("mine")) node.scrollIntoView({ block: "end" });
  }

  // --- rendering ------------------------------------------------------------

  function addMine(id, text) {
    if (shown.has(id)) return;
    const bubble = el("div", "msg mine");
    bubble.append(el("div", "text", text));
    shown.set(id, bubble);
    if (pending.has(id)) bubble.classList.add("sending");
    append(bubble);
  }

  function addNote(text) {
    append(el("div", "note", text));
  }

  function addReply(frame) {
    if (frame.replaces != null) {
      // An edit of an earlier message: new text, and its buttons are gone.
      const old = shown.get(frame.replaces);
      if (old) {
        old.querySelector(".text").textContent = frame.text;
        old.querySelectorAll(".choices, .share").forEach((node) => node.remove());
      }
      return;
    }
    if (shown.has(frame.id)) return;
    const bubble = el("div", "msg bot");
    bubble.append(el("div", "text", frame.text));
    for (const file of frame.files || []) bubble.append(fileLink(file));
    const choices = frame.choices || [];
    if (choices.length) {
      const box = el("div", "choices");
      const main = el("div", "options"), nav = el("div", "nav");
      for (const [id, label] of choices) {
        const button = el("button", "choice", label);
        button.type = "button";
        button.addEventListener("click", () => choose(bubble, button, id, frame));
        (id.startsWith("nav:") ? nav : main).append(button);
      }
      // Back / Start over / Cancel act on the current question wherever they are
      // pressed: only the newest row is kept, older ones would be clutter.
      if (nav.childElementCount) list.querySelectorAll(".nav").forEach((row) => row.remove());
      box.append(...[main, nav].filter((row) => row.childElementCount));
      bubble.append(box);
    }
    if (frame.request === "location") {
      const share = el("button", "share", frame.request_label || ui.share_location);
      share.type = "button";
      share.addEventListener("click", () => shareLocation(share));
      bubble.append(share);
    }
    shown.set(frame.id, bubble);
    append(bubble);
  }

  // A file an agent sent: a photo shows, anything else is a link.
  function fileLink(file) {
    const link = el("a", "file", file.kind === "photo" ? "" : `📎 ${file.name || file.kind}`);
    link.href = file.url;
    link.target = "_blank";
    if (file.kind === "photo") {
      const image = el("img");
      image.src = file.url;
      image.alt = file.name || "";
      link.append(image);
    }
    return link;
  }

  // A photo or document from the customer: uploaded over HTTP (the server checks it).
  async function upload(file) {
    const id = newId();
    addMine(id, `📎 ${file.name}`);
    const body = new FormData();
    body.append("id", id);
    body.append("file", file);
    const response = await fetch("upload", { method: "POST", body, credentials: "same-origin" });
    const bubble = shown.get(id);
    if (!response.ok && bubble) bubble.classList.add("failed");
  }

  // The customer's messages as the server stored them: "[<choice id>]" for a
  // pressed button (the bot message shows the choice), "[location] lat,lon".
  function historyText(item, index) {
    if (/^\[[\w.]+:[^\s\]]*\]$/.test(item.text)) return null;
    if (index === 0 && item.text === "/start") return null;
    return item.text.replace(/^\[location\] /, "📍 ");
  }

  // --- sending --------------------------------------------------------------

  // What the customer sees of their own frame at once (a pressed button shows
  // in the bot's message instead; the automatic /start is not theirs).
  function echo(frame) {
    if (frame.type === "text") return frame.text === "/start" ? null : frame.text;
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

  function choose(bubble, button, choice, frame) {
    // No double presses: the server replaces this message with the choice.
    bubble.querySelectorAll(".choice").forEach((b) => { b.disabled = true; });
    button.classList.add("chosen");
    send({ type: "choice", choice, origin: frame.id });
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

  picker.addEventListener("change", () => send({ type: "choice", choice: `lang:${picker.value}` }));

  // "Forget this device": the server ends the session; a reload starts a new, empty chat.
  forgetButton.addEventListener("click", () => {
    if (!window.confirm(ui.forget_confirm)) return;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "forget" }));
  });

  // --- server frames ----------------------------------------------------------

  function applyUi(locale, strings) {
    ui = { ...ui, ...strings };
    document.documentElement.lang = locale.replace("_", "-");
    document.title = ui.title;
    $("#title").textContent = ui.title;
    $("#language-label").textContent = ui.language;
    input.placeholder = ui.placeholder;
    input.setAttribute("aria-label", ui.placeholder);
    sendButton.textContent = ui.send;
    forgetButton.querySelector(".label").textContent = ui.forget;
    forgetButton.title = ui.forget;
    forgetButton.setAttribute("aria-label", ui.forget);
    if (fileInput && ui.attach) fileInput.parentElement.title = ui.attach;
    picker.replaceChildren(...Object.entries(ui.languages || {}).map(([code, name]) => {
      const option = el("option", "", name);
      option.value = code;
      return option;
    }));
    picker.value = locale;
  }

  function hello(frame) {
    attempts = 0;
    zoneSent = false;
    setStatus("");  // connected: the server knows us and sent the history
    applyUi(frame.locale, frame.ui);
    // The server's history is the truth: draw it afresh (it may overlap what we showed).
    shown.clear();
    list.replaceChildren();
    frame.history.forEach((item, index) => {
      if (item.type === "reply") return addReply(item);
      const text = historyText(item, index);
      if (text !== null) addMine(item.id, text);
    });
    // Frames not acked before the connection dropped: again, with the same id
    // (the server de-duplicates them).
    for (const pendingFrame of pending.values()) {
      if (echo(pendingFrame) !== null) addMine(pendingFrame.id, echo(pendingFrame));
      socket.send(JSON.stringify(pendingFrame));
    }
    if (!frame.history.length && !pending.size) send({ type: "text", text: "/start" });
    list.scrollTop = list.scrollHeight;
  }

  function receive(frame) {
    switch (frame.type) {
      case "hello": return hello(frame);
      case "ui": return applyUi(frame.locale, frame.ui);
      case "reply": return addReply(frame);
      case "ack":
        pending.delete(frame.id);
        shown.get(frame.id)?.classList.remove("sending");
        return;
      case "error":
        if (frame.id) pending.delete(frame.id);
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
