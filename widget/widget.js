/*! Elbatt chat widget. One self-contained file: no framework, no CDN, no request to anyone
 * but its own backend. Embed: <script src="https://chatbot.elbatt.no/widget.js" defer></script>
 * Options are data- attributes on that tag; the manual is docs/widget.md. */
(function () {
  "use strict";
  if (window.ElbattChat) return; // included twice: the first one wins

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var opt = (script && script.dataset) || {};
  // The backend is where this file came from unless data-backend says otherwise.
  var BASE = (opt.backend || (script && script.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, "");
  // Only the conversation id is stored, per backend (docs/widget.md, Privacy).
  var KEY = "elbatt-chat:conversation:" + BASE;

  var T = {
    nb: {
      title: "Elbatt-assistenten",
      open: "Åpne chat med Elbatt-assistenten",
      close: "Lukk chatten",
      log: "Samtalen",
      label: "Skriv et spørsmål",
      ph: "Spør om elbilbatteriet ditt …",
      send: "Send",
      fresh: "Ny samtale",
      del: "Slett samtalen",
      you: "Du",
      bot: "Elbatt",
      hi: "Hei! Jeg svarer på spørsmål om elbilbatterier. Skriv gjerne et skiltnummer, så slår jeg opp bilen.",
      wait: "Skriver …",
      offline: "Svaret kommer fra Elbatts innebygde spørsmål og svar (frakoblet modus)",
      budget_spent: ": dagens kvote for KI-svar er brukt opp.",
      provider_failed: ": KI-tjenesten svarer ikke akkurat nå.",
      not_configured: ".",
      rate: "Du har sendt mange meldinger på kort tid. Prøv igjen om {s} sekunder.",
      rate0: "Du har sendt mange meldinger på kort tid. Vent litt og prøv igjen.",
      net: "Mistet forbindelsen. Sjekk nettet og prøv igjen.",
      resuming: "Forbindelsen ble brutt. Henter resten av svaret …",
      resumed: "Svaret er hentet.",
      down: "Assistenten svarer ikke akkurat nå. Prøv igjen om litt.",
      store: "Samtalen kan ikke hentes eller lagres akkurat nå. Prøv igjen om litt.",
      long: "Meldingen er for lang. Prøv å korte den ned.",
      gone: "Den forrige samtalen finnes ikke lenger. Du starter en ny.",
      failed: "Noe gikk galt. Prøv igjen.",
      notsent: "Meldingen ble ikke sendt, og står igjen i feltet.",
      deleted: "Samtalen er slettet.",
      started: "Ny samtale startet.",
      restored: "Samtalen din er hentet fram.",
      plate: "Det ser ikke ut som et norsk skiltnummer. Sjekk bokstavene og tallene.",
      nocar: "Fant ingen bil med skiltnummeret {p}.",
      reg: "Vegvesenet svarer ikke akkurat nå, så bilen kunne ikke slås opp.",
      regoff: "Oppslag i Vegvesenets register er ikke slått på her.",
      late: "Oppslaget tok for lang tid. Prøv igjen om litt.",
      car: "Bil",
      make: "Bil",
      first: "Første registrering",
      power: "Drivlinje",
      range: "Rekkevidde",
      warranty: "Batterigaranti (anslag)",
      warrantyEnd: "til ca. {d}",
      warrantyGone: "utløpt etter alder",
      eu: "Frist EU-kontroll",
      overdue: "(fristen er passert)",
      bev: "Elbil",
      phev: "Ladbar hybrid",
      hev: "Hybrid",
      ice: "Fossil",
    },
    en: {
      title: "Elbatt assistant",
      open: "Open chat with the Elbatt assistant",
      close: "Close the chat",
      log: "Conversation",
      label: "Type a question",
      ph: "Ask about your EV battery …",
      send: "Send",
      fresh: "New conversation",
      del: "Delete the conversation",
      you: "You",
      bot: "Elbatt",
      hi: "Hi! I answer questions about EV batteries. Give me a number plate and I will look the car up.",
      wait: "Typing …",
      offline: "This answer comes from Elbatt's built-in questions and answers (offline mode)",
      budget_spent: ": today's quota for AI answers is spent.",
      provider_failed: ": the AI service is not answering right now.",
      not_configured: ".",
      rate: "You have sent many messages in a short time. Try again in {s} seconds.",
      rate0: "You have sent many messages in a short time. Wait a little and try again.",
      net: "The connection was lost. Check your network and try again.",
      resuming: "The connection dropped. Fetching the rest of the answer …",
      resumed: "The answer is complete.",
      down: "The assistant is not answering right now. Try again in a little while.",
      store: "The conversation cannot be read or saved right now. Try again in a little while.",
      long: "The message is too long. Try to shorten it.",
      gone: "The earlier conversation no longer exists. You are starting a new one.",
      failed: "Something went wrong. Try again.",
      notsent: "The message was not sent; it is still in the box.",
      deleted: "The conversation is deleted.",
      started: "New conversation started.",
      restored: "Your conversation is back.",
      plate: "That does not look like a Norwegian number plate. Check the letters and digits.",
      nocar: "No car found with the plate {p}.",
      reg: "The vehicle register is not answering right now, so the car could not be looked up.",
      regoff: "Vehicle register lookups are not switched on here.",
      late: "The lookup took too long. Try again in a little while.",
      car: "Car",
      make: "Car",
      first: "First registered",
      power: "Powertrain",
      range: "Range",
      warranty: "Battery warranty (estimate)",
      warrantyEnd: "until about {d}",
      warrantyGone: "expired by age",
      eu: "Roadworthiness test due",
      overdue: "(overdue)",
      bev: "Battery electric",
      phev: "Plug-in hybrid",
      hev: "Hybrid",
      ice: "Combustion",
    },
  };
  // Norwegian (bokmål) unless the tag asks for English.
  var L = (opt.lang || "nb").slice(0, 2) === "en" ? T.en : T.nb;
  function t(k, vars) {
    return (L[k] || T.nb[k] || k).replace(/\{(\w)\}/g, function (_, v) { return vars && vars[v] != null ? vars[v] : ""; });
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".w{--bg:#fff;--fg:#1d2329;--mute:#5b6670;--line:#d5dbe0;--me:#e7f3ee;--accent:" + (opt.accent || "#0b6e4f") + ";--on:#fff;--err:#a4262c;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg)}",
    "@media (prefers-color-scheme:dark){.w{--bg:#1c2126;--fg:#e8ecef;--mute:#a7b1ba;--line:#39424a;--me:#23392f;--accent:" + (opt.accentDark || "#52c79a") + ";--on:#0d1512;--err:#ff8a8a}}",
    ".l{position:fixed;bottom:20px;" + (opt.position === "left" ? "left" : "right") + ":20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;background:var(--accent);color:var(--on);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:grid;place-items:center}",
    ".l svg{width:28px;height:28px}",
    "button:focus-visible,textarea:focus-visible{outline:3px solid var(--accent);outline-offset:2px}",
    ".l:focus-visible{outline-color:var(--fg)}",
    ".p{position:fixed;bottom:88px;" + (opt.position === "left" ? "left" : "right") + ":20px;z-index:2147483001;width:380px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.3);overflow:hidden}",
    ".p[hidden]{display:none}",
    "@media (max-width:480px){.p{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0;border:0}}",
    "@media (prefers-reduced-motion:no-preference){.p{animation:in .18s ease-out}@keyframes in{from{opacity:0;transform:translateY(12px)}}.dots{animation:blink 1s infinite}@keyframes blink{50%{opacity:.35}}}",
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:6px;padding:8px 10px 8px 14px;border-bottom:1px solid var(--line)}",
    "h2{flex:1;margin:0;font-size:16px;font-weight:650}",
    ".bar{flex-basis:100%;display:flex;gap:6px}",
    ".b{font:inherit;font-size:13px;white-space:nowrap;border:1px solid var(--line);background:transparent;color:var(--fg);border-radius:8px;padding:4px 8px;cursor:pointer;min-height:32px}",
    ".b:hover{border-color:var(--accent)}",
    ".x{font-size:20px;line-height:1;width:34px}",
    ".log{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:10px}",
    ".m{max-width:88%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".u{align-self:flex-end;background:var(--me)}",
    ".a{align-self:flex-start;border:1px solid var(--line)}",
    ".m p{margin:0 0 6px}.m p:last-child{margin:0}.m ul,.m ol{margin:0 0 6px;padding-left:20px;white-space:normal}",
    ".note{display:block;margin-top:6px;font-size:12.5px;color:var(--mute)}",
    ".vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".card{margin-top:8px;border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:8px;padding:8px 10px;white-space:normal}",
    ".card h3{margin:0 0 4px;font-size:14px}.card dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px;font-size:13px}.card dt{color:var(--mute)}.card dd{margin:0}",
    ".card.bad{border-left-color:var(--err)}",
    ".st{margin:0;padding:0 14px;font-size:13px;color:var(--mute);min-height:0}.st:not(:empty){padding:6px 14px}",
    ".er{margin:0;padding:0 14px;color:var(--err);font-size:14px}.er:not(:empty){padding:8px 14px;border-top:1px solid var(--line)}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid var(--line)}",
    "textarea{flex:1;font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:8px 10px;resize:none;min-height:42px;max-height:120px}",
    ".s{font:inherit;font-weight:600;border:0;border-radius:10px;padding:0 14px;background:var(--accent);color:var(--on);cursor:pointer;min-height:42px}",
    ".s[aria-disabled=true]{opacity:.55;cursor:default}",
  ].join("\n");

  // A custom element name: page rules written for div or section never match the host.
  var host = document.createElement("elbatt-chat");
  host.id = "elbatt-chat";
  var root = host.attachShadow({ mode: "open" });
  var sheet;
  try {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    // Older browsers: a style element (inside the shadow root, so still isolated).
    var st = document.createElement("style");
    st.textContent = CSS;
    root.appendChild(st);
  }

  function el(tag, attrs, kids) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") n.textContent = attrs[k];
      else if (k === "class") n.className = attrs[k];
      else if (attrs[k] != null && attrs[k] !== false) n.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }

  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm7 2-3 6h3l-1 4 4-6h-3l1-4z"/></svg>';
  var launcher = el("button", { class: "l", type: "button", "aria-expanded": "false", "aria-controls": "elbatt-panel", "aria-label": t("open") });
  launcher.innerHTML = ICON; // a constant, never data
  var title = el("h2", { id: "elbatt-title", text: opt.title || t("title") });
  var bNew = el("button", { class: "b", type: "button", text: t("fresh") });
  var bDel = el("button", { class: "b", type: "button", text: t("del") });
  var bClose = el("button", { class: "b x", type: "button", "aria-label": t("close"), text: "×" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("log"), tabindex: "0" });
  var status = el("p", { class: "st", role: "status" });
  var alertBox = el("p", { class: "er", role: "alert" });
  var input = el("textarea", { id: "elbatt-q", rows: "1", placeholder: t("ph"), maxlength: "2000", /* CHAT_MAX_MESSAGE_CHARS default */ autocomplete: "off" });
  var bSend = el("button", { class: "s", type: "submit", text: t("send") });
  var form = el("form", {}, [el("label", { class: "vh", for: "elbatt-q", text: t("label") }), input, bSend]);
  var panel = el("section", { class: "p", id: "elbatt-panel", role: "dialog", "aria-labelledby": "elbatt-title", hidden: true }, [
    el("header", {}, [title, bClose, el("div", { class: "bar" }, [bNew, bDel])]),
    log,
    status,
    alertBox,
    form,
  ]);
  var wrap = el("div", { class: "w" }, [launcher, panel]);
  root.appendChild(wrap);

  var state = {
    id: read(),
    history: [], // only without a store: the turns this page has seen, never persisted
    model: opt.model || null,
    scenario: opt.scenario || null,
    busy: false,
    loaded: false,
    gen: 0, // bumped by "Ny samtale"/"Slett": a turn from before must not write into the new one
    ctl: null,
  };

  function read() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function remember(id) {
    state.id = id || null;
    try {
      if (id) localStorage.setItem(KEY, id);
      else localStorage.removeItem(KEY);
    } catch (e) { /* storage refused: the conversation lasts this page */ }
  }

  // Every stream event, and the widget's own, as a DOM event the host page may listen to.
  function emit(name, detail) {
    host.dispatchEvent(new CustomEvent("elbatt:" + name, { detail: detail, bubbles: true, composed: true }));
  }

  function say(text) { status.textContent = text || ""; }
  function warn(text) { alertBox.textContent = text || ""; }

  // A little Markdown (paragraphs, lists, **bold**), built as nodes: model text is never HTML.
  function render(node, text) {
    var frag = document.createDocumentFragment();
    var list = null;
    text.split(/\n/).forEach(function (line) {
      var m = /^\s*(?:[-*•]|(\d+)[.)])\s+(.*)$/.exec(line);
      if (m) {
        var kind = m[1] ? "OL" : "UL";
        if (!list || list.tagName !== kind) frag.appendChild((list = document.createElement(kind)));
        list.appendChild(inline(el("li"), m[2]));
      } else {
        list = null;
        if (line.trim()) frag.appendChild(inline(el("p"), line));
      }
    });
    node.replaceChildren(frag);
  }
  function inline(node, text) {
    text.split(/\*\*(.+?)\*\*/g).forEach(function (part, i) {
      node.appendChild(i % 2 ? el("strong", { text: part }) : document.createTextNode(part));
    });
    return node;
  }

  function message(role, text) {
    var body = el("div", { class: "t" });
    var m = el("div", { class: "m " + (role === "user" ? "u" : "a") }, [el("span", { class: "vh", text: (role === "user" ? t("you") : t("bot")) + ": " }), body]);
    if (role === "user") body.textContent = text || "";
    else render(body, text || "");
    log.appendChild(m);
    log.scrollTop = log.scrollHeight;
    return { node: m, body: body, text: text || "" };
  }

  function fmtDate(iso) {
    var m = /^(\d{4})-(\d\d)-(\d\d)/.exec(iso || "");
    return m ? m[3] + "." + m[2] + "." + m[1] : iso;
  }
  function num(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u00a0"); }

  function vehicleError(code, plate) {
    if (/^plate_(?!rejected$)/.test(code) || code === "plate_rejected") return t("plate");
    if (code === "not_found") return t("nocar", { p: plate });
    if (code === "not_configured") return t("regoff");
    if (code === "out_of_time" || code === "upstream_timeout") return t("late");
    return t("reg");
  }

  // The vehicle card for a `vehicle` event or a plate lookup: {plate, vehicle} or {plate, error}.
  function card(ev) {
    var v = ev.vehicle;
    if (!v) {
      var code = (ev.error && ev.error.code) || "";
      return el("div", { class: "card bad", role: "group", "aria-label": t("car") + " " + (ev.plate || "") }, [el("p", { text: vehicleError(code, ev.plate || "") })]);
    }
    var rows = [];
    function row(k, val) { if (val) rows.push(el("dt", { text: k }), el("dd", { text: val })); }
    row(t("first"), fmtDate(v.first_registration));
    row(t("power"), { battery_electric: t("bev"), plug_in_hybrid: t("phev"), hybrid: t("hev"), combustion: t("ice") }[v.powertrain]);
    if (v.range_km) row(t("range"), num(v.range_km) + " km" + (v.range_standard === "wltp" ? " (WLTP)" : v.range_standard === "nedc" ? " (NEDC)" : ""));
    var w = v.battery_warranty;
    if (w && w.years) {
      row(t("warranty"), w.years + " år" + (w.km ? " / " + num(w.km) + " km" : "") + ", " + (w.expired_by_age ? t("warrantyGone") : t("warrantyEnd", { d: fmtDate(w.estimated_end) })));
    }
    if (v.eu_control_deadline) row(t("eu"), fmtDate(v.eu_control_deadline) + (v.eu_control_overdue ? " " + t("overdue") : ""));
    var name = [v.make, v.model].filter(Boolean).join(" ") || t("car");
    return el("div", { class: "card", role: "group", "aria-label": t("car") + " " + (v.plate || ev.plate) }, [
      el("h3", { text: name + " · " + (v.plate || ev.plate) }),
      el("dl", {}, rows),
    ]);
  }

  function offlineNote(reason) {
    return el("span", { class: "note", text: t("offline") + (L[reason] || T.nb[reason] || ".") });
  }

  // What a person should read for an error body or code.
  function explain(status, code, retryAfter) {
    if (status === 429 || code === "rate_limited") {
      var s = parseInt(retryAfter, 10);
      return s > 0 ? t("rate", { s: s }) : t("rate0");
    }
    if (/^plate_/.test(code || "")) return t("plate");
    if (code === "message_too_long" || code === "payload_too_large") return t("long");
    if (code === "store_unavailable" || code === "store_not_configured") return t("store");
    if (status >= 500 || /^upstream_/.test(code || "")) return t("down");
    return t("failed");
  }

  async function errorOf(resp) {
    var code = "";
    try { code = ((await resp.json()).error || {}).code || ""; } catch (e) { /* not JSON */ }
    return { status: resp.status, code: code, retry: resp.headers.get("retry-after") };
  }

  function request(method, path, body, signal) {
    var init = { method: method, credentials: "omit", cache: "no-store", signal: signal, headers: {} };
    if (body) {
      init.headers["content-type"] = "application/json";
      init.headers.accept = "text/event-stream";
      init.body = JSON.stringify(body);
    } else if (/\/events/.test(path)) init.headers.accept = "text/event-stream";
    return fetch(BASE + path, init);
  }

  // Reads one SSE response, calling `on(name, data, id)` per event. Resolves true once the turn
  // ended (done/error), false when the stream stopped early.
  async function readEvents(resp, on) {
    var reader = resp.body.getReader();
    var dec = new TextDecoder();
    var buf = "";
    for (;;) {
      var r = await reader.read();
      if (r.done) return false;
      buf = (buf + dec.decode(r.value, { stream: true })).replace(/\r\n?/g, "\n");
      var i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        var block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        var name = "message", data = [], id = null;
        block.split("\n").forEach(function (line) {
          if (!line || line[0] === ":") return;
          var c = line.indexOf(":");
          var f = c < 0 ? line : line.slice(0, c);
          var v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (f === "event") name = v;
          else if (f === "data") data.push(v);
          else if (f === "id") id = v;
        });
        if (!data.length) continue;
        var parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch (e) { continue; }
        if (on(name, parsed, id)) {
          reader.cancel().catch(function () {});
          return true;
        }
      }
    }
  }

  function setBusy(on) {
    state.busy = on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    bSend.setAttribute("aria-disabled", on ? "true" : "false");
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  async function send(text) {
    text = (text || "").trim();
    if (!text || state.busy) return;
    warn("");
    say("");
    var user = message("user", text);
    input.value = "";
    var bot = message("assistant", "");
    bot.body.appendChild(el("span", { class: "dots", text: t("wait") }));
    setBusy(true);
    var body = { message: text, stream: true };
    if (state.id) body.conversation_id = state.id;
    else if (state.history.length) body.history = state.history.slice(-20);
    if (state.model) body.model = state.model;
    if (state.scenario) body.scenario = state.scenario;
    emit("request", { body: body });
    // What this turn has seen: the text so far and the last event (for a resume).
    var turn = { text: "", seq: 0, last: null, ended: false, id: state.id, resumable: null };
    var gen = state.gen;
    function on(name, data, id) {
      if (gen !== state.gen) return true;
      turn.seq += 1;
      turn.last = id || String(turn.seq);
      emit(name, { data: data, id: id });
      if (name === "delta") {
        turn.text += data.text || "";
        render(bot.body, turn.text);
      } else if (name === "vehicle") {
        bot.node.appendChild(card(data));
      } else if (name === "done") {
        if (!turn.text) render(bot.body, "");
        if (data.mode === "offline") bot.node.appendChild(offlineNote(data.offline_reason));
        turn.resumable = data.resumable;
        if (data.conversation_id) remember(data.conversation_id);
        else {
          remember(null);
          state.history.push({ role: "user", content: text }, { role: "assistant", content: turn.text });
        }
        return (turn.ended = true);
      } else if (name === "error") {
        var e = data.error || {};
        warn(explain(0, e.code));
        if (!turn.text) bot.node.remove();
        return (turn.ended = true);
      }
      log.scrollTop = log.scrollHeight;
      return false;
    }
    var ctl = (state.ctl = new AbortController());
    try {
      var resp;
      try {
        resp = await request("POST", "/chat", body, ctl.signal);
      } catch (e) {
        return unsent(user, bot, text, t("net"));
      }
      if (!resp.ok) {
        var err = await errorOf(resp);
        emit("error", { status: err.status, data: { error: { code: err.code } } });
        if (err.code === "conversation_not_found") {
          remember(null);
          return unsent(user, bot, text, t("gone"));
        }
        return unsent(user, bot, text, explain(err.status, err.code, err.retry));
      }
      // A backend that cannot stream (a Scaleway Function) sends the whole reply as JSON.
      if (/json/.test(resp.headers.get("content-type") || "")) {
        var reply = await resp.json();
        (reply.vehicles || []).forEach(function (v) { on("vehicle", v, null); });
        on("delta", { text: reply.reply || "" }, null);
        on("done", reply, null);
        return;
      }
      // Same-origin pages (and backends that expose it) learn the id before `done`.
      turn.id = turn.id || resp.headers.get("x-conversation-id");
      if (resp.headers.get("x-elbatt-resume") === "unavailable") turn.resumable = false;
      try {
        if (await readEvents(resp, on)) return;
      } catch (e) { /* dropped mid-stream (or cut by dropStream): resume below */ }
      if (gen !== state.gen) return;
      if (!(await resume(turn, on))) {
        if (!turn.text) bot.node.remove();
        warn(t("net"));
      }
    } finally {
      state.ctl = null;
      setBusy(false);
    }
  }

  // GET /chat/{id}/events?since=<turn>:<seq>: the rest of a dropped stream, no second model call.
  async function resume(turn, on) {
    if (!turn.id || turn.resumable === false) return false;
    say(t("resuming"));
    for (var attempt = 0; attempt < 4; attempt++) {
      if (attempt) await sleep(1000 * Math.pow(2, attempt - 1));
      if (!navigator.onLine) await new Promise(function (r) { addEventListener("online", r, { once: true }); });
      var resp;
      try {
        var ctl = (state.ctl = new AbortController());
        resp = await request("GET", "/chat/" + encodeURIComponent(turn.id) + "/events?since=" + encodeURIComponent(turn.last || "0"), null, ctl.signal);
      } catch (e) { continue; }
      emit("resume", { since: turn.last, status: resp.status });
      if (resp.status === 410) {
        // The events are gone but the turn is stored: read it back whole.
        await restore(true);
        say(t("resumed"));
        return true;
      }
      if (!resp.ok) break; // 404/405: this backend cannot resume
      try {
        if (await readEvents(resp, on)) {
          say(t("resumed"));
          return true;
        }
      } catch (e) { /* dropped again */ }
    }
    say("");
    return false;
  }

  function unsent(user, bot, text, why) {
    user.node.remove();
    bot.node.remove();
    if (!input.value) input.value = text;
    warn(why + " " + t("notsent"));
  }

  // GET /conversations/{id}: the stored transcript, once per page (or again after a lost stream).
  async function restore(force) {
    if (!state.id || (state.loaded && !force)) return;
    state.loaded = true;
    var resp;
    try { resp = await request("GET", "/conversations/" + encodeURIComponent(state.id)); } catch (e) { warn(t("net")); return; }
    if (resp.status === 404) {
      remember(null);
      say(t("gone"));
      return;
    }
    if (!resp.ok) { warn(t("store")); return; }
    var conv = await resp.json();
    log.replaceChildren();
    greet();
    (conv.messages || []).forEach(function (m) {
      var msg = message(m.role, m.content);
      (m.vehicles || []).forEach(function (v) { msg.node.appendChild(card(v)); });
      if (m.role === "assistant" && m.mode === "offline") msg.node.appendChild(offlineNote(m.offline_reason));
    });
    emit("restored", { id: state.id, messages: (conv.messages || []).length });
    if (!force) say(t("restored"));
  }

  var greeting = opt.greeting || null;
  function greet() {
    if (!log.firstChild) message("assistant", greeting || t("hi"));
  }

  async function loadScenario() {
    if (!state.scenario || opt.greeting) return;
    try {
      var resp = await request("GET", "/api/scenarios/" + encodeURIComponent(state.scenario));
      if (resp.ok) greeting = (await resp.json()).greeting || null;
    } catch (e) { /* the default greeting stays */ }
  }

  var opened = false;
  async function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", t("close"));
    input.focus();
    emit("open", {});
    if (!opened) {
      opened = true;
      await loadScenario();
      await restore(false);
      greet();
    }
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", t("open"));
    launcher.focus();
    emit("close", {});
  }

  function fresh(notice) {
    state.gen += 1;
    if (state.ctl) state.ctl.abort();
    remember(null);
    state.history = [];
    log.replaceChildren();
    greet();
    warn("");
    say(notice);
    input.focus();
  }

  async function erase() {
    var id = state.id;
    if (id) {
      var resp;
      try { resp = await request("DELETE", "/conversations/" + encodeURIComponent(id)); } catch (e) { warn(t("net")); return; }
      emit("deleted", { status: resp.status });
      if (!resp.ok && resp.status !== 404) { warn(t("store")); return; }
    }
    fresh(t("deleted"));
  }

  // A plate typed into the host page (the playground's form): GET /plate-lookup/{plate}.
  async function lookupPlate(plate) {
    if (panel.hidden) await open();
    var resp;
    try { resp = await request("GET", "/plate-lookup/" + encodeURIComponent(plate)); } catch (e) { warn(t("net")); return; }
    var data;
    try { data = await resp.json(); } catch (e) { data = {}; }
    var ev = resp.ok ? { plate: data.plate, vehicle: data.vehicle } : { plate: plate, error: data.error || { code: "" } };
    if (resp.status === 429) { warn(explain(429, "rate_limited", resp.headers.get("retry-after"))); return; }
    var m = message("assistant", "");
    m.node.classList.add("lk"); // a lookup, not part of the stored conversation
    m.body.remove();
    m.node.appendChild(card(ev));
    emit("vehicle", { data: ev, lookup: true });
  }

  launcher.addEventListener("click", function () { panel.hidden ? open() : close(); });
  bClose.addEventListener("click", close);
  bNew.addEventListener("click", function () { fresh(t("started")); });
  bDel.addEventListener("click", erase);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); close(); }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value); }
  });

  function mount() {
    document.body.appendChild(host);
    if (opt.open === "true") open();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // For the host page (the playground uses it): no state beyond what the widget shows.
  window.ElbattChat = {
    host: host,
    backend: BASE,
    open: open,
    close: close,
    send: send,
    lookupPlate: lookupPlate,
    newConversation: function () { fresh(t("started")); },
    deleteConversation: erase,
    setModel: function (m) { state.model = m || null; },
    // Cuts the running stream as a lost connection would (the widget then resumes).
    dropStream: function () { if (state.ctl) state.ctl.abort(); },
    conversationId: function () { return state.id; },
  };
})();
