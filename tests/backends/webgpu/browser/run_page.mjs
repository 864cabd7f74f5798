// Opens a URL in headless Chromium (Debian's, WebGPU on its SwiftShader adapter) and prints the
// page's window.aotcResult as JSON once the page sets it. Used by test_webgpu_browser.py.
//   node run_page.mjs URL [CHROMIUM] [TIMEOUT_MS]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, executablePath = "/usr/bin/chromium", timeout = "300000"] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "aotc-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ["--enable-unsafe-webgpu", "--headless=new", "--no-sandbox", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = context.pages()[0] || await context.newPage();
  const console_lines = [];
  page.on("console", (message) => console_lines.push(`${message.type()}: ${message.text()}`));
  await page.goto(url);
  await page.waitForFunction(() => window.aotcResult !== undefined, null, { timeout: Number(timeout) });
  const result = await page.evaluate(() => window.aotcResult);
  result.status = await page.textContent("#status");
  result.console = console_lines;
  process.stdout.write(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
