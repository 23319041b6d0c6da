// The console in headless Chromium (Debian's, through puppeteer-core): run by
// api/tests/console.rs against a real API with a broker behind its sampler. Every wait is
// bounded; a failed check exits non-zero with what the page showed.
import puppeteer from "puppeteer-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";

const url = process.env.EDDY_CONSOLE_URL;
const shots = process.env.EDDY_CONSOLE_SCREENSHOTS || tmpdir();
const executablePath = process.env.EDDY_CHROMIUM || "/usr/bin/chromium";
if (!url) throw new Error("EDDY_CONSOLE_URL is not set");

const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);
function check(ok, what, extra = "") {
  if (!ok) throw new Error(`check failed: ${what} ${extra}`);
  log("ok:", what);
}

// A hang guard for the whole script (the Rust side has its own).
const deadline = Number(process.env.EDDY_CONSOLE_DEADLINE_MS || 240_000);
const opTimeout = Number(process.env.EDDY_CONSOLE_OPERATION_TIMEOUT_MS || 60_000);
const guard = setTimeout(() => { console.error("browser script: overall deadline passed"); process.exit(2); }, deadline);

// With EDDY_CONSOLE_KCAT=1 this script makes the traffic itself, with kcat against the bootstrap
// address the cluster page shows (the local-Kubernetes test); else its caller does.
const children = new Set();
function kcat(args, input, ms = 30_000) {
  return new Promise((resolve, reject) => {
    const child = spawn("kcat", args, { stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("close", (code) => {
      clearTimeout(timer);
      children.delete(child);
      code === 0 ? resolve(out) : reject(new Error(`kcat ${args.join(" ")}: exit ${code}: ${err}`));
    });
    child.stdin.end(input);
  });
}
let trafficOn = false;
async function traffic(bootstrap, topic) {
  const lines = (n, tag) => Array.from({ length: n }, (_, i) => `${tag}-${i}-${"x".repeat(200)}`).join("\n") + "\n";
  await kcat(["-b", bootstrap, "-P", "-t", topic], lines(200, "seed"));
  const read = await kcat(["-b", bootstrap, "-G", "billing", "-X", "auto.offset.reset=earliest", "-e", "-f", "%s\n", topic], "");
  log(`kcat: the group read ${read.split("\n").filter(Boolean).length} records`);
  trafficOn = true;
  (async () => {
    for (let i = 0; i < 200 && trafficOn; i++) {
      await kcat(["-b", bootstrap, "-P", "-t", topic], lines(50, `live${i}`)).catch((e) => log(String(e)));
      await new Promise((r) => setTimeout(r, 700));
    }
  })();
}

const profile = mkdtempSync(join(tmpdir(), "eddy-chromium-"));
const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  userDataDir: profile,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
let page;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.setDefaultTimeout(20_000);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  // First load, cold cache: bytes over the wire and when the app could be used (its first
  // heading rendered by the script), from the browser's own timing entries.
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("h1");
  const load = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    return {
      rendered_ms: Math.round(performance.now()),
      dom_interactive_ms: Math.round(nav.domInteractive),
      load_event_ms: Math.round(nav.loadEventEnd),
      transferred_bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
      decoded_bytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
      requests: 1 + res.length,
    };
  });
  log("first load:", JSON.stringify(load));
  check(load.transferred_bytes < 100_000, "the first load stays under 100 kB on the wire", JSON.stringify(load));

  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim());
  // A form field by its label (text, email, password or number input).
  const field = async (label) => {
    const end = Date.now() + 20_000;
    for (;;) {
      for (const role of ["textbox", "spinbutton"]) {
        const el = await page.$(`::-p-aria([name="${label}"][role="${role}"])`);
        if (el) return el;
      }
      const el = await page.$(`::-p-aria(${label})`);
      if (el && (await el.evaluate((e) => e.tagName === "INPUT" || e.tagName === "TEXTAREA"))) return el;
      if (Date.now() > end) throw new Error(`no field labelled ${label}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const typeInto = async (label, value) => {
    const el = await field(label);
    await el.click({ clickCount: 3 });
    await el.type(value);
  };
  const clickButton = async (name) => (await page.waitForSelector(`::-p-aria([name="${name}"][role="button"])`)).click();
  const waitFor = async (what, fn, ms = 30_000, every = 300) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, every));
    }
  };

  // 1. A bad sign-in shows the API's problem+json title and detail.
  check((await text("h1")) === "Sign in", "the sign-in page is first");
  await typeInto("Email", "nobody@example.com");
  await typeInto("Password", "wrong-password-123");
  await clickButton("Sign in");
  await page.waitForSelector("[data-testid=problem]");
  const expected = await page.evaluate(async () => {
    const r = await fetch("/v1/auth/signin", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "nobody@example.com", password: "wrong-password-123" }) });
    return { status: r.status, type: r.headers.get("content-type"), body: await r.json() };
  });
  check(expected.status >= 400 && expected.type.startsWith("application/problem+json"), "the API answers a bad sign-in with problem+json", JSON.stringify(expected));
  check((await text(".problem-title")) === expected.body.title, "the problem's title is shown", await text("[data-testid=problem]"));
  check((await text(".problem-detail")) === expected.body.detail, "the problem's detail is shown", await text("[data-testid=problem]"));

  // 2. Sign up: the new owner lands on an empty cluster list.
  await (await page.waitForSelector("::-p-aria([name=\"Sign up\"][role=\"link\"])")).click();
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "Sign up");
  await typeInto("Your name", "Ann Owner");
  await typeInto("Email", "ann@example.com");
  await typeInto("Password", "correct-horse-battery-staple");
  await typeInto("Account (company) name", "Ann's shop");
  await clickButton("Create account");
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "Clusters");
  check(true, "signed up and signed in");

  // 3. The keyboard alone reaches "Create cluster" and opens the flow.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.id === "create-cluster");
  }
  check(reached, "Tab reaches the create-cluster button");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "Create a cluster");
  check(/per month/.test(await text("[data-testid=price]")), "the create flow shows the price", await text("[data-testid=price]"));
  await page.screenshot({ path: join(shots, "create.png"), fullPage: true });

  // 4. Create a cluster; its operation is followed until it succeeds.
  await typeInto("Name", "orders");
  await clickButton("Create cluster");
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "orders");
  await page.waitForSelector("[data-testid=operation]");
  await waitFor("the create operation to succeed", () =>
    page.$eval("[data-testid=operation]", (e) => e.dataset.state === "succeeded").catch(() => false), opTimeout, 1000);
  await page.waitForSelector("[data-testid=topics]", { timeout: opTimeout });
  const steps = await page.$$eval(".steps li", (l) => l.map((e) => e.textContent));
  check(steps.length >= 3, "the operation's steps are listed", JSON.stringify(steps));
  check(await page.$eval("progress", (p) => p.value === p.max), "the progress bar is full");
  // The cluster and its operations are two reads: wait until the page shows the cluster active
  // too (its ETag is then the one changes are made against).
  await waitFor("the cluster shown active", () => page.$eval(".heading .badge", (b) => b.textContent === "active").catch(() => false), opTimeout, 500);

  // Deletion protection: Delete is disabled while it is on; turned off, Delete asks for the
  // cluster's name before its confirm button works. (Cancelled: the cluster is used below.)
  const deleteDisabled = () => page.$eval("::-p-aria([name=\"Delete…\"][role=\"button\"])", (b) => b.disabled);
  check(await deleteDisabled(), "Delete is disabled while deletion protection is on");
  await (await page.waitForSelector("::-p-aria([name=\"Deletion protection\"][role=\"checkbox\"])")).click();
  await waitFor("deletion protection off", async () => !(await deleteDisabled()));
  await clickButton("Delete…");
  const confirmDelete = await page.waitForSelector("dialog[open] ::-p-aria([name=\"Delete the cluster\"][role=\"button\"])");
  check(await confirmDelete.evaluate((b) => b.disabled), "the delete confirmation waits for the typed name");
  await (await page.waitForSelector("dialog[open] input")).type("orders");
  check(!(await confirmDelete.evaluate((b) => b.disabled)), "typing the name enables it");
  await (await page.waitForSelector("dialog[open] ::-p-aria([name=\"Cancel\"][role=\"button\"])")).click();
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));

  // The resize dialog previews what the resize does before it is confirmed (cancelled here).
  await clickButton("Resize…");
  const preview = await page.waitForSelector("dialog[open] [data-testid=resize-preview]");
  const previewText = await preview.evaluate((e) => e.textContent);
  check(/Brokers\d+ → \d+/.test(previewText) && /Monthly price.*EUR → .*EUR/.test(previewText),
    "the resize dialog previews brokers and prices", previewText);
  await (await page.waitForSelector("dialog[open] ::-p-aria([name=\"Cancel\"][role=\"button\"])")).click();
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));

  // 5. Topics: one created; one beyond the plan's limit is refused with the API's problem.
  await typeInto("Topic name", "events");
  await clickButton("Create topic");
  await waitFor("the topic in the list", () => page.$eval("[data-testid=topics]", (t) => t.textContent.includes("events")));
  check(true, "topic created through the console");
  await clickButton("Edit events");
  const dialog = await page.waitForSelector("dialog[open]");
  const retention = await dialog.$("::-p-aria([name=\"Retention (hours)\"][role=\"spinbutton\"])");
  await retention.click({ clickCount: 3 });
  await retention.type("48");
  // A Kafka configuration added in the same dialog (checked by the API, written to the
  // KafkaTopic). Not a compacting one: kcat below produces records without keys.
  const configKey = await dialog.$("::-p-aria([name=\"Add configuration\"][role=\"combobox\"])");
  await configKey.select("max.message.bytes");
  const configValue = await dialog.$("::-p-aria([name=\"Value\"][role=\"textbox\"])");
  await configValue.type("2097152");
  await (await dialog.$("::-p-aria([name=\"Add\"][role=\"button\"])")).click();
  await dialog.waitForSelector("::-p-aria([name=\"Remove max.message.bytes\"][role=\"button\"])");
  await clickButton("Save");
  await waitFor("the edited retention in the list", () => page.$eval("[data-testid=topics]", (t) => t.textContent.includes("48 h")));
  check(true, "topic retention edited through the console");
  await waitFor("the added configuration in the list", () => page.$eval("[data-testid=topics]", (t) => t.textContent.includes("max.message.bytes=2097152")));
  check(true, "topic configuration added through the console");
  if (process.env.EDDY_CONSOLE_KCAT) {
    const bootstrap = await page.$eval("dl.facts dd code", (e) => e.textContent.trim());
    // The operator creates the topic from its KafkaTopic: produce once it exists.
    await waitFor("kcat producing to the new topic", () => traffic(bootstrap, "events").then(() => true, (e) => { log(String(e.message).slice(0, 200)); return false; }), 90_000, 2_000);
    check(true, `kcat produced to ${bootstrap} and a group consumed`);
  }
  await typeInto("Topic name", "too-big");
  await typeInto("Partitions", "100000");
  await clickButton("Create topic");
  await waitFor("a problem for the oversized topic", () => page.$(".card [data-testid=problem]"));
  const topicProblem = await page.$eval(".card [data-testid=problem]", (e) => e.textContent);
  check(/partition/i.test(topicProblem), "an oversized topic shows the API's problem", topicProblem);

  // 6. Plots: the sampler's points are drawn: throughput above zero, and the group's lag.
  const plotState = (id) => page.$eval(`[data-testid=plot-${id}]`, (f) => ({
    points: Number(f.dataset.points), max: Number(f.dataset.max),
    inked: (() => {
      const c = f.querySelector("canvas");
      if (!c) return 0;
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    })(),
  })).catch(() => null);
  await waitFor("non-zero throughput and a consumer lag in the plots", async () => {
    const refresh = await page.$("::-p-aria([name=\"Refresh plots\"][role=\"button\"])");
    if (refresh) await refresh.click();
    await new Promise((r) => setTimeout(r, 500));
    const t = await plotState("throughput");
    const l = await plotState("lag");
    return t && l && t.max > 0 && t.inked > 200 && l.max > 0;
  }, Number(process.env.EDDY_CONSOLE_PLOT_TIMEOUT_MS || 90_000), 2_000);
  const t = await plotState("throughput");
  const l = await plotState("lag");
  check(t.points >= 2 && t.max > 0 && t.inked > 200, "the throughput plot draws points above zero", JSON.stringify(t));
  check(l.points >= 1 && l.max > 0, "the consumer lag plot shows the group behind", JSON.stringify(l));
  const latency = await plotState("latency");
  check(latency && latency.points > 0, "request latency is plotted", JSON.stringify(latency));
  await page.screenshot({ path: join(shots, "cluster.png"), fullPage: true });

  // 7. Phone width: nothing wider than the screen.
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  await new Promise((r) => setTimeout(r, 500));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, "the cluster page fits a phone's width", `overflow ${overflow}px`);
  await page.screenshot({ path: join(shots, "cluster-phone.png"), fullPage: true });
  // Leaving the mobile emulation reloads the page: wait until it shows the cluster again.
  await page.setViewport({ width: 1280, height: 900 });
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "orders");

  // The SLA card: this month's measured availability.
  const sla = await (await page.waitForSelector("[data-testid=availability]")).evaluate((e) => e.textContent);
  check(/%/.test(sla) && /minutes/.test(sla), "the cluster page shows its measured availability", sla);

  // 8. The cluster list shows it active (through the main navigation).
  const nav = async (name, heading) => {
    await (await page.waitForSelector(`nav ::-p-aria([name="${name}"][role="link"])`)).click();
    await page.waitForFunction((h) => document.querySelector("h1")?.textContent === h, {}, heading);
  };
  await nav("Clusters", "Clusters");
  await page.waitForSelector("[data-testid=clusters]");
  const row = await page.$eval("[data-testid=clusters] tbody", (t) => t.textContent);
  check(row.includes("orders") && row.includes("active"), "the cluster is in the list, active", row);
  await page.screenshot({ path: join(shots, "clusters.png"), fullPage: true });

  // 9. Billing: issue last month's invoice and read it.
  await nav("Billing", "Billing");
  await clickButton("Issue the month's invoice");
  await page.waitForSelector("[data-testid=invoice-lines]");
  check(/EUR/.test(await text("[data-testid=invoice-total]")), "the issued invoice is shown with its total", await text("[data-testid=invoice-total]"));

  // 10. API keys: the secret is shown once.
  await nav("API keys", "API keys");
  await typeInto("Name", "ci");
  await clickButton("Create key");
  const secret = await (await page.waitForSelector("[data-testid=secret]")).evaluate((e) => e.textContent);
  check(secret.startsWith("eddy_"), "the new API key is shown once", secret.slice(0, 10));
  await clickButton("I have copied it");
  check(!(await page.$("[data-testid=secret]")), "and hidden after");

  // 10b. Alarms: a signed webhook channel whose secret is shown nowhere after, a test
  // notification queued to it, and a consumer-lag rule.
  await nav("Alarms", "Alarms");
  const hookSecret = "console-hmac-secret-7421";
  await typeInto("Name", "ops hook");
  await page.select("::-p-aria([name=\"Kind\"][role=\"combobox\"])", "webhook");
  await typeInto("URL", `${url.replace(/\/$/, "")}/hook-receiver`);
  await typeInto("HMAC secret (16+ characters)", hookSecret);
  await clickButton("Add channel");
  await waitFor("the channel in the list", async () => (await page.$eval("[data-testid=channels] tbody", (t) => t.textContent)).includes("ops hook"));
  const channels = await page.$eval("[data-testid=channels] tbody", (t) => t.textContent);
  check(channels.includes("7421") && !channels.includes(hookSecret), "the channel shows a hint of its secret, never the secret", channels);
  check(!(await page.evaluate((s) => document.body.innerHTML.includes(s), hookSecret)), "the secret is nowhere in the page after");
  await clickButton("Send test to ops hook");
  await page.waitForSelector("[data-testid=delivery-log]");
  check((await page.evaluate(() => document.body.innerText)).includes("Test notification queued."), "a test notification is queued");
  const logText = await waitFor("the attempt in the delivery log", async () => {
    await clickButton("Refresh log");
    const t = await page.$eval("[data-testid=delivery-log]", (e) => e.textContent);
    return t.includes("internal address") ? t : null;
  }, 60_000, 1_000);
  check(logText.includes("test") && logText.includes("pending"), "the delivery log shows the refused attempt, to be retried", logText);
  await page.select("::-p-aria([name=\"Watch\"][role=\"combobox\"])", "consumer_lag");
  await typeInto("Threshold", "1000");
  await clickButton("Add rule");
  await waitFor("the rule in the list", async () => (await page.$eval("[data-testid=rules] tbody", (t) => t.textContent)).includes("Consumer lag"));
  check((await page.$eval("[data-testid=alarms] tbody", (t) => t.textContent)).includes("No alarms."), "no alarm is open");
  // Both are edited in place: the channel renamed (its secret kept and still hidden), the
  // rule's threshold raised.
  await clickButton("Edit ops hook");
  await typeInto("Rename ops hook", "ops pager");
  await clickButton("Save channel");
  await waitFor("the renamed channel", async () => (await page.$eval("[data-testid=channels] tbody", (t) => t.textContent)).includes("ops pager"));
  const renamed = await page.$eval("[data-testid=channels] tbody tr", (r) => [...r.cells].map((c) => c.textContent));
  check(renamed[0] === "ops pager" && renamed[2].includes("7421"), "the channel is renamed and keeps its secret", renamed.join(" | "));
  await clickButton("Edit rule consumer_lag");
  await typeInto("New threshold", "2500");
  const notify = await page.$eval("[data-testid=channels] tbody tr", (r) => r.cells[0].textContent);
  check((await page.$eval("[data-testid=rules] tbody", (t) => t.textContent)).includes("every channel"), "the rule notifies every channel at first");
  const chosen = await page.$$eval("[data-testid=edit-rule] select[multiple] option", (os, name) => os.filter((o) => o.textContent === name).map((o) => o.value), notify);
  await page.select("[data-testid=edit-rule] select[multiple]", ...chosen);
  await clickButton("Save rule");
  await waitFor("the rule's new threshold", async () => (await page.$eval("[data-testid=rules] tbody", (t) => t.textContent)).includes("2500"));
  const notifies = await page.$eval("[data-testid=rules] tbody tr", (r) => r.cells[4].textContent);
  check(notifies === notify, "the rule's channel list is edited in place", notifies);
  check(!(await page.$("[data-testid=edit-rule]")), "the rule editor closes after saving");
  await page.screenshot({ path: join(shots, "alarms.png"), fullPage: true });

  // 11. A billing manager, invited and accepting in another browser context, sees only billing.
  await nav("Members", "Members");
  await typeInto("Email", "bill@example.com");
  await page.select("::-p-aria([name=\"Role\"][role=\"combobox\"])", "billing_manager");
  await clickButton("Invite");
  const invitation = await (await page.waitForSelector("[data-testid=secret]")).evaluate((e) => e.textContent);
  const link = invitation.split("\n").find((l) => l.includes("#/accept?token="));
  check(!!link, "the invitation link is shown once", invitation.slice(0, 20));
  const other = await browser.createBrowserContext();
  const bill = await other.newPage();
  await bill.setViewport({ width: 1280, height: 900 });
  // A hang guard for a busy machine (the suites run beside each other), not a speed limit.
  bill.setDefaultTimeout(60_000);
  await bill.goto(link, { waitUntil: "load" });
  await bill.waitForFunction(() => document.querySelector("h1")?.textContent === "Accept an invitation");
  for (const [label, value] of [["Your name (new users)", "Bill"], ["Password (new users choose one; existing users enter theirs)", "bills-password-123456"]]) {
    const el = await bill.waitForSelector(`::-p-aria([name="${label}"])`);
    await el.type(value);
  }
  await (await bill.waitForSelector("::-p-aria([name=\"Join the account\"][role=\"button\"])")).click();
  await bill.waitForFunction(() => document.querySelector("h1")?.textContent === "Billing");
  const links = await bill.$$eval("nav a", (as) => as.map((a) => a.textContent));
  check(JSON.stringify(links) === JSON.stringify(["Plans", "Billing", "Members", "Account"]), "a billing manager's navigation has billing, not clusters", JSON.stringify(links));
  // The heading renders before the invoices arrive: wait for their table.
  const invoices = await bill.waitForSelector("[data-testid=invoices] tbody");
  check((await invoices.evaluate((t) => t.textContent)).includes("EUR"), "the billing manager reads the invoice");
  await other.close();

  check(pageErrors.length === 0, "no uncaught errors in the page", pageErrors.join("\n"));
  log("console checks passed");
} catch (e) {
  console.error(String(e && e.stack || e));
  if (page) {
    await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
    console.error("page text:", await page.evaluate(() => document.body.innerText).catch(() => "?"));
  }
  process.exitCode = 1;
} finally {
  trafficOn = false;
  for (const c of children) c.kill("SIGKILL");
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(guard);
}
