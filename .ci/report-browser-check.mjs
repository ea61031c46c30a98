// Render gpuslice report pages in headless Chromium and check what a reader would see:
//   node .ci/report-browser-check.mjs [--screenshots DIR] [--docs-shot PNG] PAGE.html...
// For each page: no console error, page error or failed request, and no request at all other
// than the file itself (the page is self-contained); every chart the page's `gpuslice-charts`
// tag announces is rendered, laid out at a readable size and has marks in it; every navigation
// link has its section; and a screenshot of the top of the page and of its first chart is not
// blank (many colours, most of it not the background). Exit 1 naming what failed.
//
// Optional: it needs puppeteer-core and a Chromium. Without them it says so and exits 0, so it
// can sit in CI without making `cargo test` depend on a browser. Chromium is found as
//   1. CHROME_PATH (any Chromium or Chrome binary), else
//   2. @sparticuz/chromium (a self-contained headless build from npm).
// The npm packages are found beside this script (an npm install in the clone) or in the folder
// REPORT_CHECK_MODULES names, e.g.
//   mkdir -p ~/tools/chromium && cd ~/tools/chromium && npm init -y && npm i puppeteer-core @sparticuz/chromium
//   REPORT_CHECK_MODULES=~/tools/chromium .ci/report-browser-check

import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import fs from "node:fs";
import path from "node:path";

/** Import an npm package from beside this script, else from REPORT_CHECK_MODULES; null if absent. */
async function load(name) {
  try {
    return await import(name);
  } catch {}
  const dir = process.env.REPORT_CHECK_MODULES;
  if (!dir) return null;
  try {
    const req = createRequire(path.join(path.resolve(dir), "package.json"));
    return await import(pathToFileURL(req.resolve(name)).href);
  } catch {
    return null;
  }
}

/** The default export of a module that may have been built as ES or CommonJS. */
const main = (m) => m?.default?.default ?? m?.default ?? m;

function skip(why) {
  console.log(`report-browser-check: skipped: ${why}`);
  process.exit(0);
}

const args = process.argv.slice(2);
let shots = null;
let docsShot = null;
const pages = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--screenshots") shots = args[++i];
  else if (args[i] === "--docs-shot") docsShot = args[++i];
  else pages.push(args[i]);
}
if (pages.length === 0) {
  console.error("usage: report-browser-check.mjs [--screenshots DIR] [--docs-shot PNG] PAGE.html...");
  process.exit(2);
}

const puppeteer = main(await load("puppeteer-core"));
if (!puppeteer?.launch) skip("puppeteer-core is not installed (see the comment at the top of this script)");
let executablePath = process.env.CHROME_PATH;
let launchArgs = ["--no-sandbox", "--disable-gpu"];
if (!executablePath) {
  const chromium = main(await load("@sparticuz/chromium"));
  if (!chromium?.executablePath) skip("no Chromium: set CHROME_PATH or install @sparticuz/chromium");
  executablePath = await chromium.executablePath();
  launchArgs = chromium.args;
}
let browser;
try {
  browser = await puppeteer.launch({ executablePath, args: launchArgs, headless: true });
} catch (e) {
  skip(`Chromium at ${executablePath} does not start: ${String(e.message).split("\n")[0]}`);
}

/** How a PNG looks: distinct colours (quantised) and the share of pixels unlike its corner. */
async function looks(png) {
  const p = await browser.newPage();
  try {
    return await p.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set();
      let unlike = 0;
      const [r0, g0, b0] = [d[0], d[1], d[2]];
      for (let i = 0; i < d.length; i += 4) {
        colours.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4));
        if (Math.abs(d[i] - r0) + Math.abs(d[i + 1] - g0) + Math.abs(d[i + 2] - b0) > 24) unlike++;
      }
      return { colours: colours.size, unlike: unlike / (d.length / 4) };
    }, png.toString("base64"));
  } finally {
    await p.close();
  }
}

let failed = 0;
for (const file of pages) {
  const name = path.basename(file, ".html");
  const problems = [];
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  const url = pathToFileURL(path.resolve(file)).href;
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`failed request: ${r.url()}`));
  page.on("request", (r) => r.url() !== url && problems.push(`requests ${r.url()} (a report loads nothing)`));
  await page.goto(url, { waitUntil: "load" });
  const facts = await page.evaluate(() => {
    const meta = (n) => document.querySelector(`meta[name="${n}"]`)?.content;
    const charts = [...document.querySelectorAll("svg.chart")].map((s) => {
      const b = s.getBoundingClientRect();
      return { id: s.dataset.chart, w: b.width, h: b.height, marks: s.querySelectorAll("path, rect, circle, line").length };
    });
    const missing = [...document.querySelectorAll("nav a")].map((a) => a.getAttribute("href")).filter((h) => !document.querySelector(h));
    return { kind: meta("gpuslice-report"), announced: Number(meta("gpuslice-charts")), charts, missing, title: document.title };
  });
  if (!facts.kind) problems.push("no gpuslice-report tag: not a report page");
  if (facts.charts.length !== facts.announced) problems.push(`${facts.charts.length} charts rendered, ${facts.announced} announced`);
  if (facts.charts.length === 0) problems.push("no chart");
  for (const c of facts.charts) {
    if (c.w < 300 || c.h < 80) problems.push(`chart ${c.id} is ${Math.round(c.w)}x${Math.round(c.h)} px`);
    if (c.marks < 4) problems.push(`chart ${c.id} has only ${c.marks} marks`);
  }
  for (const h of facts.missing) problems.push(`navigation link ${h} has no section`);
  const top = await page.screenshot({ type: "png" });
  const first = await (await page.$("svg.chart"))?.screenshot({ type: "png" });
  for (const [what, png] of [["the page", top], ["the first chart", first]]) {
    if (!png) continue;
    const l = await looks(png);
    if (l.colours < 8 || l.unlike < 0.05) problems.push(`${what} looks blank (${l.colours} colours, ${(l.unlike * 100).toFixed(1)} % drawn)`);
  }
  if (shots) {
    fs.mkdirSync(shots, { recursive: true });
    fs.writeFileSync(path.join(shots, `${name}.png`), top);
    if (first) fs.writeFileSync(path.join(shots, `${name}-chart.png`), first);
  }
  if (docsShot && pages.indexOf(file) === 0) {
    // The book's picture: the first page's summary and first charts, 1100 px wide.
    await page.setViewport({ width: 1100, height: 1500 });
    await page.evaluate(() => window.scrollTo(0, 0));
    fs.mkdirSync(path.dirname(docsShot), { recursive: true });
    fs.writeFileSync(docsShot, await page.screenshot({ type: "png" }));
  }
  await page.close();
  const status = problems.length ? "FAIL" : "ok";
  console.log(`${status}  ${file}: ${facts.kind ?? "?"} report, ${facts.charts.length} charts, "${facts.title}"`);
  for (const p of problems) console.log(`      ${p}`);
  if (problems.length) failed++;
}
await browser.close();
if (failed) {
  console.log(`report-browser-check: ${failed} of ${pages.length} pages failed`);
  process.exit(1);
}
console.log(`report-browser-check: ${pages.length} pages rendered and checked`);
