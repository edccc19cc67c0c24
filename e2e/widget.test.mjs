// Browser tests of the chat widget and the playground, in headless Debian Chromium driven by
// playwright-core (no downloaded browser). scripts/browser-tests.sh starts the runner against
// fake upstreams and runs this file with node's test runner; it sets:
//   RUNNER_URL   the runner (e.g. http://127.0.0.1:40123), with a small chat rate limit
//   BUDGET_RUNNER_URL  a runner whose daily token budget is spent by its first answer
//   ARTIFACTS    where screenshots go (target/e2e)
//   CHROMIUM     the browser (default /usr/bin/chromium)
// The tests run in order and share one page: each step is what a person would do next.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const RUNNER = process.env.RUNNER_URL;
const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const FULL_ANSWER = "Batteriet i en elbil har vanligvis åtte års garanti.";
if (!RUNNER) throw new Error("RUNNER_URL is not set: run scripts/browser-tests.sh");
mkdirSync(ARTIFACTS, { recursive: true });

let browser, context, page;
/** Every request the playground page made (URL, method). */
const requests = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "nb-NO" });
  context.on("request", (r) => requests.push({ url: r.url(), method: r.method() }));
  page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
});

after(async () => {
  await browser?.close();
});

// In the widget's (open) shadow root.
const shadow = (fn, arg) =>
  page.evaluate(
    ([src, a]) => new Function("root", "arg", `return (${src})(root, arg)`)(document.getElementById("elbatt-chat").shadowRoot, a),
    [fn.toString(), arg],
  );

/** Resolves with the detail of the next `elbatt:<name>` event (installed before acting). */
const nextEvent = (p, ...names) =>
  p.evaluate(
    (ns) =>
      (window.__next = new Promise((resolve) => {
        const fire = (e) => {
          ns.forEach((n) => document.removeEventListener(`elbatt:${n}`, fire));
          resolve({ name: e.type.slice(7), detail: JSON.parse(JSON.stringify(e.detail || {})) });
        };
        ns.forEach((n) => document.addEventListener(`elbatt:${n}`, fire));
      }),
      null),
    names,
  );
const awaitEvent = (p) => p.evaluate(() => window.__next);

/** The conversation's messages as shown (plate lookups from the form are not part of it). */
const messages = () => shadow((root) => [...root.querySelectorAll(".m:not(.lk)")].map((m) => m.textContent));
const alertText = () => shadow((root) => root.querySelector("[role=alert]").textContent);

/** Types a message in the open panel with the keyboard and waits for the end of the turn. */
async function ask(text) {
  await nextEvent(page, "done", "error");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  return awaitEvent(page);
}

test("embedded in another site, the widget reaches only its backend and its styles hold", async () => {
  // The host page, on another origin (http://localhost:<port>, which the runner's CORS allows
  // on loopback), with hostile styles.
  const backend = new URL(RUNNER);
  const html = `<!doctype html><html lang="nb"><head><title>Host</title><link rel="icon" href="data:,">
<style>* { color: rgb(255, 0, 0) !important; font-family: serif !important; } button { display: none !important; }
div { border: 9px solid lime !important; }</style></head>
<body><h1>Elbatt.no</h1>
<script src="${backend.origin}/widget.js" defer data-title="Spør Elbatt"></script></body></html>`;
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/" ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(req.url === "/" ? html : "");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const hostOrigin = `http://localhost:${server.address().port}`;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const seen = [];
  ctx.on("request", (r) => seen.push(r.url()));
  const p = await ctx.newPage();
  try {
    await p.goto(hostOrigin + "/");
    const launcher = await p.evaluate(() => {
      const root = document.getElementById("elbatt-chat").shadowRoot;
      const l = root.querySelector(".l");
      const s = getComputedStyle(l);
      return { display: s.display, w: l.getBoundingClientRect().width };
    });
    assert.notEqual(launcher.display, "none", "the page's button rule does not reach the widget");
    assert.equal(Math.round(launcher.w), 56);
    await p.evaluate(() => ElbattChat.open());
    const title = await p.evaluate(() => {
      const h = document.getElementById("elbatt-chat").shadowRoot.querySelector("h2");
      return { text: h.textContent, color: getComputedStyle(h).color };
    });
    assert.equal(title.text, "Spør Elbatt");
    assert.notEqual(title.color, "rgb(255, 0, 0)");
    assert.equal(await p.evaluate(() => ElbattChat.backend), backend.origin);

    await nextEvent(p, "done", "error");
    await p.keyboard.type("Hvor lenge varer batterigarantien?");
    await p.keyboard.press("Enter");
    const end = await awaitEvent(p);
    // Cross-origin, through CORS (the runner allows http://localhost:* on loopback).
    assert.equal(end.name, "done", JSON.stringify(end));
    // The only thing the widget keeps: the conversation id, under its backend's name.
    const keys = await p.evaluate(() => Object.keys(localStorage));
    assert.deepEqual(keys, [`elbatt-chat:conversation:${backend.origin}`]);
    const outside = seen.filter((u) => !u.startsWith("data:") && ![hostOrigin, backend.origin].includes(new URL(u).origin));
    assert.deepEqual(outside, [], "no third-party request");
    const fromWidget = seen.filter((u) => new URL(u).origin !== hostOrigin);
    assert.ok(fromWidget.every((u) => new URL(u).origin === backend.origin));
    assert.ok(fromWidget.some((u) => u.endsWith("/chat")), fromWidget.join(" "));
  } finally {
    await ctx.close();
    server.close();
  }
});

test("the playground loads, lists routes and models, and the launcher is reached by keyboard", async () => {
  await page.goto(RUNNER + "/");
  assert.equal(await page.title(), "Elbatt playground");
  const routes = await page.locator("#routes").textContent();
  for (const r of ["/chat[/*]", "/plate-lookup[/*]", "/widget.js[/*]"]) assert.ok(routes.includes(r), r);
  const models = await page.locator("#model option").allTextContents();
  assert.deepEqual(models.sort(), ["fake-model", "fake-model-large"]);

  // Tab until the widget's launcher has focus (it is the last thing on the page).
  let onLauncher = false;
  for (let i = 0; i < 30 && !onLauncher; i++) {
    await page.keyboard.press("Tab");
    onLauncher = await page.evaluate(() => {
      const host = document.activeElement;
      return host?.id === "elbatt-chat" && host.shadowRoot.activeElement?.classList.contains("l");
    });
  }
  assert.ok(onLauncher, "Tab reaches the launcher");
  await page.keyboard.press("Enter");
  assert.equal(await shadow((root) => root.activeElement?.id), "elbatt-q", "focus moves into the panel");
  assert.equal(await shadow((root) => root.querySelector(".l").getAttribute("aria-expanded")), "true");

  // Escape closes and gives focus back to the launcher; Enter opens again.
  await page.keyboard.press("Escape");
  assert.equal(await shadow((root) => root.querySelector(".p").hidden), true);
  assert.equal(await shadow((root) => root.activeElement?.classList.contains("l")), true);
  await page.keyboard.press("Enter");
  assert.equal(await shadow((root) => root.activeElement?.id), "elbatt-q");
});

test("a question typed with the keyboard is answered in more than one step in the live region", async () => {
  // Record what the live region's last message shows at every change.
  await shadow((root) => {
    const log = root.querySelector("[aria-live]");
    window.__seen = [];
    new MutationObserver(() => {
      const last = log.lastElementChild?.querySelector(".t")?.textContent || "";
      if (window.__seen.at(-1) !== last) window.__seen.push(last);
    }).observe(log, { childList: true, subtree: true, characterData: true });
  });
  const end = await ask("Hvor lenge varer batterigarantien?");
  assert.equal(end.name, "done", JSON.stringify(end));
  const seen = await page.evaluate(() => window.__seen);
  const partial = seen.filter((s) => s && s !== FULL_ANSWER && FULL_ANSWER.startsWith(s));
  assert.ok(partial.length >= 2, `the answer grew in steps: ${JSON.stringify(seen)}`);
  const all = await messages();
  assert.ok(all.at(-1).includes(FULL_ANSWER), all.at(-1));
  assert.ok(all.at(-2).includes("Hvor lenge varer batterigarantien?"));
  assert.equal(await shadow((root) => root.querySelector("[aria-live]").getAttribute("aria-busy")), "false");
  // The event log shows the raw stream.
  const rows = await page.locator("#events tr td:nth-child(2)").allTextContents();
  assert.ok(rows.filter((r) => r === "delta").length >= 2 && rows.includes("done"), rows.join(","));
});

test("a plate in a question shows the vehicle card, and the form looks one up", async () => {
  const end = await ask("Hva vet du om bilen EC 47213?");
  assert.equal(end.name, "done");
  const card = await shadow((root) => root.querySelector(".m:last-of-type .card")?.textContent || "");
  assert.ok(card.includes("KIA NIRO") && card.includes("EC 47213"), card);
  assert.ok(card.includes("Batterigaranti"), card);
  await page.screenshot({ path: join(ARTIFACTS, "widget-desktop.png") });

  // The playground's form: an invalid plate gets a Norwegian explanation, a valid one a card.
  await page.fill("#plate", "X");
  await nextEvent(page, "vehicle");
  await page.click("#plate-form button");
  await awaitEvent(page);
  const bad = await shadow((root) => [...root.querySelectorAll(".card.bad")].at(-1)?.textContent || "");
  assert.match(bad, /ser ikke ut som et norsk skiltnummer/);
  await page.fill("#plate", "ec47213");
  await nextEvent(page, "vehicle");
  await page.click("#plate-form button");
  const ok = await awaitEvent(page);
  assert.equal(ok.detail.data.plate, "EC47213");
});

test("a dropped stream is resumed where it stopped (GET /chat/{id}/events)", async (t) => {
  await shadow((root) => root.querySelector("textarea").focus());
  await nextEvent(page, "delta");
  const done = page
    .evaluate(() => new Promise((resolve) => document.addEventListener("elbatt:done", (e) => resolve(e.detail), { once: true })))
    .catch(() => null);
  const resumed = page.evaluate(
    () =>
      new Promise((resolve) => {
        document.addEventListener("elbatt:resume", (e) => resolve(e.detail), { once: true });
        setTimeout(() => resolve(null), 15000);
      }),
  );
  await page.keyboard.type("Og vinterrekkevidden?");
  await page.keyboard.press("Enter");
  await awaitEvent(page); // the first piece of text
  await page.click("#drop");
  const resume = await resumed;
  assert.ok(resume, "the widget asked to resume");
  if (resume.status === 404 || resume.status === 405) {
    // Only until the server side lands (helper "resume"): the route itself is missing.
    const probe = await fetch(`${RUNNER}/chat/${await page.evaluate(() => ElbattChat.conversationId())}/events?since=1`);
    if (probe.status === 405 || (probe.status === 404 && (await probe.json()).error?.code === "not_found")) {
      t.skip(`this runner has no GET /chat/{id}/events yet (answered ${probe.status}); resume untested`);
      return;
    }
  }
  assert.equal(resume.status, 200, JSON.stringify(resume));
  await done;
  const all = await messages();
  assert.ok(all.at(-1).includes(FULL_ANSWER), `whole answer, nothing twice: ${all.at(-1)}`);
  assert.ok(requests.some((r) => /\/chat\/[0-9a-f]+\/events\?since=/.test(r.url)));
});

test("the rate limit is explained in Norwegian and the message is kept", async () => {
  let end = null;
  for (let i = 0; i < 8; i++) {
    await shadow((root) => root.querySelector("textarea").focus());
    await shadow((root) => (root.querySelector("textarea").value = ""));
    end = await ask("Takk!");
    if (end.name === "error") break;
  }
  assert.equal(end?.name, "error", "the limit was reached");
  assert.equal(end.detail.status, 429);
  assert.match(await alertText(), /Du har sendt mange meldinger på kort tid\. Prøv igjen om \d+ sekunder\./);
  assert.equal(await shadow((root) => root.querySelector("textarea").value), "Takk!");
});

test("after a reload the conversation is restored; at 375 px it fills the screen", async () => {
  const asked = (await messages()).filter((m) => m.startsWith("Du: "));
  const id = await page.evaluate(() => ElbattChat.conversationId());
  assert.match(id, /^[0-9a-f]{64}$/);
  await page.reload();
  assert.equal((await messages().catch(() => [])).length, 0, "nothing shown before the panel opens");
  await nextEvent(page, "restored");
  await page.evaluate(() => ElbattChat.open());
  const restored = await awaitEvent(page);
  assert.equal(restored.detail.id, id);
  // What is shown is what the server keeps, and every question asked before the reload.
  const stored = (await (await fetch(`${RUNNER}/conversations/${id}`)).json()).messages;
  const shown = (await messages()).filter((m) => !m.includes("Hei!"));
  assert.equal(shown.length, stored.length, JSON.stringify(shown));
  stored.forEach((m, i) => assert.ok(shown[i].includes(m.content.trim()), `${shown[i]} / ${m.content}`));
  for (const q of ["Du: Hvor lenge varer batterigarantien?", "Du: Hva vet du om bilen EC 47213?"]) {
    assert.ok(asked.includes(q) && shown.includes(q), q);
  }
  assert.ok(await shadow((root) => !!root.querySelector(".m:not(.lk) .card")), "cards come back too");

  await page.setViewportSize({ width: 375, height: 740 });
  const box = await shadow((root) => {
    const r = root.querySelector(".p").getBoundingClientRect();
    return { w: r.width, h: r.height, x: r.x };
  });
  assert.equal(Math.round(box.w), 375);
  assert.equal(Math.round(box.x), 0);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling at 375 px");
  await page.screenshot({ path: join(ARTIFACTS, "widget-375.png") });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test("dark mode and reduced motion are followed", async () => {
  const look = () =>
    shadow((root) => {
      const p = root.querySelector(".p");
      const s = getComputedStyle(p);
      return { bg: s.backgroundColor, animation: s.animationName };
    });
  await page.emulateMedia({ colorScheme: "light", reducedMotion: "no-preference" });
  const light = await look();
  assert.equal(light.bg, "rgb(255, 255, 255)");
  assert.equal(light.animation, "in");
  await page.emulateMedia({ colorScheme: "dark", reducedMotion: "reduce" });
  const dark = await look();
  assert.equal(dark.bg, "rgb(28, 33, 38)");
  assert.equal(dark.animation, "none", "no slide-in when motion is reduced");
  await page.screenshot({ path: join(ARTIFACTS, "widget-dark.png") });
  await page.emulateMedia({ colorScheme: "light", reducedMotion: "no-preference" });
});

test("Slett samtalen erases it on the server in one click and forgets the id", async () => {
  const id = await page.evaluate(() => ElbattChat.conversationId());
  await nextEvent(page, "deleted");
  await shadow((root) => [...root.querySelectorAll("button")].find((b) => b.textContent === "Slett samtalen").click());
  const del = await awaitEvent(page);
  assert.equal(del.detail.status, 204);
  assert.equal(await page.evaluate(() => ElbattChat.conversationId()), null);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  assert.equal((await fetch(`${RUNNER}/conversations/${id}`)).status, 404);
  assert.match(await shadow((root) => root.querySelector("[role=status]").textContent), /Samtalen er slettet/);
  assert.deepEqual((await messages()).length, 1, "only the greeting is left");
});

test("the playground and the widget made no request outside the runner", () => {
  const origin = new URL(RUNNER).origin;
  const outside = requests.filter((r) => !r.url.startsWith("data:") && new URL(r.url).origin !== origin);
  assert.deepEqual(outside, []);
  assert.ok(requests.some((r) => r.url === origin + "/widget.js"));
});

test("once the day's token budget is spent, the answer says it comes from offline mode", async (t) => {
  if (!process.env.BUDGET_RUNNER_URL) return t.skip("BUDGET_RUNNER_URL is not set");
  const p = await context.newPage();
  try {
    await p.goto(process.env.BUDGET_RUNNER_URL + "/");
    await p.evaluate(() => ElbattChat.open());
    const turn = async (text) => {
      await nextEvent(p, "done", "error");
      await p.keyboard.type(text);
      await p.keyboard.press("Enter");
      return awaitEvent(p);
    };
    const first = await turn("Hvor lenge varer batterigarantien?");
    assert.equal(first.detail.data.mode, "model");
    assert.equal(first.detail.data.conversation_id, undefined, "no store on this runner");
    // Without a store the widget keeps the turns for the page and sends them as history.
    const sent = p.evaluate(
      () => new Promise((r) => document.addEventListener("elbatt:request", (e) => r(e.detail.body), { once: true })),
    );
    const second = await turn("Hva er vinterrekkevidde?");
    const body = await sent;
    assert.equal(body.history.length, 2);
    assert.equal(body.conversation_id, undefined);
    assert.equal(second.detail.data.mode, "offline");
    assert.equal(second.detail.data.offline_reason, "budget_spent");
    const note = await p.evaluate(() => [...document.getElementById("elbatt-chat").shadowRoot.querySelectorAll(".note")].map((n) => n.textContent));
    assert.deepEqual(note, ["Svaret kommer fra Elbatts innebygde spørsmål og svar (frakoblet modus): dagens kvote for KI-svar er brukt opp."]);
  } finally {
    await p.close();
  }
});

test("each failure is explained in Norwegian (responses stubbed in the browser)", async () => {
  const p = await context.newPage();
  try {
    await p.goto(RUNNER + "/");
    await p.evaluate(() => ElbattChat.open());
    const alertOf = () => p.evaluate(() => document.getElementById("elbatt-chat").shadowRoot.querySelector("[role=alert]").textContent);
    const attempt = async (reply, text = "Hei") => {
      await p.unroute("**/chat");
      await p.route("**/chat", reply);
      await nextEvent(p, "done", "error");
      await p.evaluate(() => (document.getElementById("elbatt-chat").shadowRoot.querySelector("textarea").value = ""));
      await p.keyboard.type(text);
      await p.keyboard.press("Enter");
      // The turn's event, or (a request that never reached the server emits none) the alert
      // the widget cleared when it sent: a condition, not a fixed wait a loaded machine can lose.
      const alerted = p
        .waitForFunction(
          () => document.getElementById("elbatt-chat").shadowRoot.querySelector("[role=alert]").textContent !== "",
          null,
          { timeout: 15000 },
        )
        .then(() => null);
      return Promise.race([awaitEvent(p), alerted]);
    };
    const json = (status, body) => (route) =>
      route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });

    await attempt((route) => route.abort("internetdisconnected"));
    assert.match(await alertOf(), /^Mistet forbindelsen\. Sjekk nettet og prøv igjen\. Meldingen ble ikke sendt/);
    await attempt(json(502, { error: { code: "upstream_error" } }));
    assert.match(await alertOf(), /^Assistenten svarer ikke akkurat nå\./);
    await attempt(json(503, { error: { code: "store_unavailable" } }));
    assert.match(await alertOf(), /^Samtalen kan ikke hentes eller lagres akkurat nå\./);
    await attempt(json(400, { error: { code: "message_too_long" } }));
    assert.match(await alertOf(), /^Meldingen er for lang\./);
    await attempt(json(404, { error: { code: "conversation_not_found" } }));
    assert.match(await alertOf(), /^Den forrige samtalen finnes ikke lenger\./);
    // An error event after the answer began.
    await attempt((route) =>
      route.fulfill({
        status: 200,
        contentType: "text/event-stream",
        body: 'event: delta\ndata: {"text":"Et halvt "}\n\nevent: error\ndata: {"error":{"code":"upstream_timeout"}}\n\n',
      }),
    );
    assert.match(await alertOf(), /^Assistenten svarer ikke akkurat nå\./);
    // A backend that cannot stream answers with the whole reply as JSON.
    const end = await attempt(
      json(200, { reply: "Svar fra FAQ.", vehicles: [], mode: "offline", offline_reason: "provider_failed", model: null }),
    );
    assert.equal(end.name, "done");
    const last = await p.evaluate(() => [...document.getElementById("elbatt-chat").shadowRoot.querySelectorAll(".m")].at(-1).textContent);
    assert.ok(last.includes("Svar fra FAQ.") && last.includes("KI-tjenesten svarer ikke akkurat nå"), last);
  } finally {
    await p.close();
  }
});
