/**
 * Debian's Chromium driven by Playwright for the console's browser tests: a fresh profile per
 * run, the flags that keep it off the network, screenshots into test/artifacts/ (gitignored),
 * page errors and CSP violations collected, and axe-core accessibility checks.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Why browser tests skip, or false when Chromium is there. */
export const NO_BROWSER: string | false = existsSync(CHROMIUM)
  ? false
  : `Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (.ci/run does) to run the console's ` +
    `browser tests`;

/** Where screenshots go: test/artifacts/console/ (gitignored), kept after the run for people to look at. */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts', 'console');

export interface Browser {
  readonly context: BrowserContext;
  /** Uncaught page errors and console errors (CSP violations among them), per page. */
  readonly problems: string[];
  newPage(width?: number): Promise<Page>;
  close(): Promise<void>;
}

/** Starts Chromium headless with a fresh, throw-away profile. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'ef-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    viewport: { width: 1366, height: 900 },
  });
  const problems: string[] = [];
  return {
    context,
    problems,
    async newPage(width = 1366) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height: 900 });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A full-page screenshot as test/artifacts/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

/**
 * Runs axe-core's WCAG 2.x A/AA rules (labels, names, landmarks, contrast…) on the page as it
 * is now. Injected through the DevTools protocol, so the console's CSP needs no exception.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<unknown> } }).axe;
    const result = (await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    })) as {
      violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }>;
    };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
}

/** True when the page needs no horizontal scrolling at its current width. */
export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}
