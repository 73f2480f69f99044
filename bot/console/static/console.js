// The console's few behaviours: actions without a page reload, live updates (SSE).
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const ui = JSON.parse(document.getElementById("ui").textContent);
  const flash = document.getElementById("flash");

  // Action forms: post in the background; a refusal (e.g. claimed by someone else) is shown.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("act")) return;
    event.preventDefault();
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
    });
    let answer = {ok: false, message: String(response.status)};
    try { answer = await response.json(); } catch (e) { /* not JSON: keep the status */ }
    if (answer.ok) {
      location.reload();
    } else if (flash) {
      flash.textContent = answer.message || answer.error;
      flash.hidden = false;
    }
  });

  // Tell colleagues this agent is writing (at most every 3 s).
  let lastTyping = 0;
  document.addEventListener("input", (event) => {
    const form = event.target.form;
    if (!form || !/\/(reply|note)$/.test(form.action) || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    fetch(form.action.replace(/\/(reply|note)$/, "/typing"), {
      method: "POST", credentials: "same-origin", headers: {"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
    });
  });

  const rows = document.querySelector('[data-live="queue"]');
  const transcript = document.querySelector('[data-live="transcript"]');
  const page = document.querySelector("[data-conversation]");
  const breaches = document.querySelector('[data-live="supervisor"]');
  if (!rows && !transcript && !breaches) return;
  const conversation = transcript ? page.dataset.conversation : null;
  const seen = new Set(rows ? [...rows.querySelectorAll('tr[data-status="queued"]')].map((r) => r.dataset.conversation) : []);

  function alertNewArrival(text) {
    try {
      if (window.Notification && Notification.permission === "granted") new Notification(text || ui.new_conversation);
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      tone.connect(audio.destination);
      tone.frequency.value = 880;
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound or notification: the row still appears */ }
  }
  document.addEventListener("click", () => {
    if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  }, {once: true});

  async function refresh(ids) {
    if (rows) {
      const response = await fetch("/console/queue" + location.search, {credentials: "same-origin"});
      if (!response.ok) return;
      rows.innerHTML = await response.text();
      let fresh = false;
      for (const row of rows.querySelectorAll('tr[data-status="queued"]')) {
        if (!seen.has(row.dataset.conversation)) { seen.add(row.dataset.conversation); fresh = true; }
      }
      if (fresh) alertNewArrival();
    }
    if (breaches) {  // the supervisor's page: a newly missed first response raises an alert
      const response = await fetch("/console/supervisor", {credentials: "same-origin"});
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("breaches");
      if (Number(fresh.dataset.count) > Number(breaches.dataset.count)) alertNewArrival(ui.breach);
      breaches.innerHTML = fresh.innerHTML;
      breaches.dataset.count = fresh.dataset.count;
    }
    if (transcript && (ids.includes(Number(conversation)) || ids.includes(-1))) {
      const response = await fetch(`/console/c/${conversation}/transcript`, {credentials: "same-origin"});
      if (response.ok) transcript.innerHTML = await response.text();
    }
  }

  const source = new EventSource("/console/events" + (conversation ? `?c=${conversation}` : ""));
  source.addEventListener("ready", () => {
    document.body.dataset.live = "ready";
    refresh([-1]);  // what changed between rendering this page (or losing the stream) and listening
  });
  source.addEventListener("change", (event) => refresh(JSON.parse(event.data)));
})();
