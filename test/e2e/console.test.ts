/**
 * The fleet console in a real browser (Debian's Chromium through Playwright) against the real
 * demo: the same `startDemoRun` as `npm start` (server, embedded broker, 20 simulated devices
 * on the real agent link, mnist-cnn planned per class, rollouts, throttling, the control
 * loop). A person's path through it: sign in, see the 20 devices, open a device's charts,
 * start a rollout from the plan page and watch its waves complete, revoke a device and abort
 * the rollout that then stalls on it, find the loop's decision on the timeline, and check that
 * a read token sees no button that changes anything (and that the server refuses it anyway).
 * Every page is screenshotted at laptop (1366) and tablet (768) width into test/artifacts/,
 * and checked with axe-core (WCAG 2.1 A/AA) and for horizontal overflow.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { loadServerConfig } from '@edgefleet/server';
import { demoConfig, startDemoRun, type DemoRun } from '@edgefleet/cli/scenario/demo-run';
import { axeViolations, fitsWidth, launchBrowser, NO_BROWSER, screenshot, type Browser } from '../helpers/browser.js';

const CLASSES = ['mcu-gateway', 'rpi4', 'jetson-orin'];
const silent = pino({ level: 'silent' });

/** Waits for `check` to hold, polling; fails with `what` after `ms`. */
async function until<T>(
  what: string,
  ms: number,
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
  await page.locator('#page-title').waitFor();
}

/** Axe findings that block a person (serious or critical), as readable lines. */
async function seriousA11y(page: Page): Promise<string[]> {
  return (await axeViolations(page))
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}

// Planning mnist-cnn for three classes and the loop's story take a minute or two on a busy 2-core box.
t.setTimeout(300_000);

t.test(
  'the fleet console, driven in Chromium against the running demo',
  { skip: NO_BROWSER, timeout: 300_000 },
  async (t) => {
    const lines: string[] = [];
    // Not t.testdir(): tap would remove it before the demo (and its farm's outboxes) stopped.
    const dataDir = mkdtempSync(join(tmpdir(), 'ef-console-e2e-'));
    const config = demoConfig(
      loadServerConfig({
        flags: {
          dataDir,
          port: 0,
          host: '127.0.0.1',
          apiPort: 0,
          apiHost: '127.0.0.1',
          'log.level': 'silent',
          'control.tickSeconds': 5,
        },
      }),
    );
    const demo: DemoRun = await startDemoRun({
      config,
      devices: 20,
      classes: CLASSES,
      seed: 1,
      loop: true,
      throttleAfterMs: 8000,
      logger: silent,
      farmLogger: silent,
      print: (line) => lines.push(line),
    });
    const browser: Browser = await launchBrowser();
    t.teardown(async () => {
      await browser.close();
      await demo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    t.match(
      demo.consoleLink,
      /^http:\/\/127\.0\.0\.1:\d+\/ui\/#token=efa_/,
      'the demo prints a console link with a token',
    );
    const base = (demo.consoleLink as string).split('#')[0] as string;
    const adminToken = (await demo.server.auth().createAdminToken('e2e-admin', 'admin')).token;
    const admin = await browser.newPage();

    await t.test('sign in with a token', async (t) => {
      await admin.goto(base);
      await admin.getByLabel('API token').waitFor();
      t.same(await seriousA11y(admin), [], 'sign-in page: no serious accessibility problem');
      await screenshot(admin, '1366-sign-in');
      await admin.getByLabel('API token').fill('efa_000000000000_wrong');
      await admin.getByRole('button', { name: 'Sign in' }).click();
      await admin.getByRole('alert').waitFor();
      t.match(
        await admin.getByRole('alert').textContent(),
        /unknown, malformed or revoked/,
        'a wrong token is refused',
      );
      await admin.getByLabel('API token').fill(adminToken);
      await admin.getByLabel('API token').press('Enter');
      await admin.getByTestId('scope').waitFor();
      t.match(await admin.getByTestId('scope').textContent(), /Admin/, 'signed in as admin');
    });

    await t.test("the fleet page shows the demo's 20 devices per class and state, live", async (t) => {
      await until('20 devices online in the console', 30_000, async () =>
        /20 devices, 20 online/.test((await admin.getByTestId('fleet-summary').textContent()) ?? ''),
      );
      t.equal(await admin.getByTestId('device-tile').count(), 20, 'one tile per device');
      t.equal(await admin.getByTestId('total-online').textContent(), '20');
      for (const cls of CLASSES)
        t.ok(await admin.getByRole('heading', { name: new RegExp(`^${cls}`) }).isVisible(), `${cls} has its section`);
      t.same(await seriousA11y(admin), [], 'fleet page: no serious accessibility problem');
      await screenshot(admin, '1366-fleet');
    });

    // The demo prints which class it will throttle; the other two take the admin's rollouts.
    const story = await until('the demo to pick its story class', 120_000, () => {
      const stopped = lines.find((l) => l.startsWith('[demo] the loop demo stopped'));
      if (stopped) throw new Error(stopped);
      return lines.map((l) => /^\[demo\] (\S+) starts on/.exec(l)?.[1]).find(Boolean);
    });
    const [classA, classB] = CLASSES.filter((c) => c !== story) as [string, string];

    await t.test("a device's charts show its telemetry against its budgets", async (t) => {
      const device = demo.farm.devices.find((d) => d.deviceClass === story)?.deviceId as string;
      await admin.getByRole('link', { name: new RegExp(`^${device}\\b`) }).click();
      await admin.locator('#page-title').filter({ hasText: device }).waitFor();
      await until(
        'latency windows on the chart',
        40_000,
        async () => (await admin.locator('[data-testid="latency-chart"] canvas').count()) > 0,
      );
      t.match(
        await admin.getByText(/Latest p95 latency/).textContent(),
        /against a budget of/,
        'the latency chart is judged against the budget',
      );
      t.ok(await admin.locator('[data-testid="power-chart"] canvas').count(), 'power chart drawn');
      t.ok(await admin.locator('[data-testid="accuracy-chart"] canvas').count(), 'accuracy chart drawn');
      await until('the model history', 30_000, async () => (await admin.getByTestId('model-history').count()) > 0);
      t.same(await seriousA11y(admin), [], 'device page: no serious accessibility problem');
      await screenshot(admin, '1366-device');
    });

    await until("the demo's first rollouts to complete", 90_000, async () => {
      const list = await demo.server.deploy().rollouts.list();
      return list.length >= 3 && list.every((r) => r.state === 'completed');
    });

    /** On the plan page of `cls`, selects a variant other than the one running and starts a rollout of it. */
    async function startRolloutFromPlan(cls: string): Promise<string> {
      await go(admin, `#/plans/${cls}`);
      const current = (await demo.server.deploy().rollouts.list({ deviceClass: cls })).at(-1)?.artifactSha;
      const points = admin.locator('.point-group');
      await points.first().waitFor();
      const recipes = await points.evaluateAll((els) => els.map((e) => e.getAttribute('data-recipe') ?? ''));
      const stored = (
        await admin.evaluate(async (c) => {
          const token = sessionStorage.getItem('edgefleet.console.token');
          const res = await fetch(`/v1/plans?class=${c}`, { headers: { authorization: `Bearer ${token}` } });
          return (await res.json()) as {
            plans: Array<{ plan: { candidates: Array<{ recipe: string; artifactSha: string | null }> } }>;
          };
        }, cls)
      ).plans.at(-1);
      const target = stored?.plan.candidates.find(
        (c) => recipes.includes(c.recipe) && c.artifactSha && c.artifactSha !== current,
      );
      if (!target) throw new Error(`no other variant to roll out on ${cls}`);
      // Keyboard, as a person without a mouse would: focus the point, press Enter.
      await admin.locator(`.point-group[data-recipe="${target.recipe}"]`).focus();
      await admin.keyboard.press('Enter');
      await admin.getByRole('heading', { name: target.recipe, exact: true }).waitFor();
      await admin.getByLabel('Canary devices').fill('1');
      await admin.getByRole('button', { name: 'Start rollout' }).click();
      await admin.waitForURL(/#\/rollouts\/ro-/);
      return decodeURIComponent(admin.url().split('#/rollouts/')[1] as string);
    }

    await t.test('a rollout started from the plan page fills its waves and completes', async (t) => {
      await go(admin, `#/plans/${classA}`);
      await admin.locator('.point-group').first().waitFor();
      t.same(await seriousA11y(admin), [], 'plans page: no serious accessibility problem');
      await screenshot(admin, '1366-plans');
      const id = await startRolloutFromPlan(classA);
      await admin.getByTestId('wave').first().waitFor();
      await screenshot(admin, '1366-rollout-in-progress');
      await until('the rollout to complete in the console', 60_000, async () =>
        /^Completed/.test((await admin.getByTestId('rollout-progress').textContent()) ?? ''),
      );
      const waves = await admin
        .getByTestId('wave')
        .evaluateAll((els) =>
          els.map((e) => [Number(e.getAttribute('data-done')), Number(e.getAttribute('data-size'))]),
        );
      t.ok(waves.length >= 2, `${waves.length} waves`);
      t.ok(
        waves.every(([done, size]) => done === size),
        'every wave filled',
      );
      t.equal((await demo.server.deploy().rollouts.status(id)).rollout.state, 'completed', 'the server agrees');
      t.same(await seriousA11y(admin), [], 'rollout page: no serious accessibility problem');
      await screenshot(admin, '1366-rollout-completed');
    });

    let stalled = '';
    await t.test('revoking a device from its page cuts it off', async (t) => {
      const victim = demo.farm.devices.filter((d) => d.deviceClass === classB).at(-1)?.deviceId as string;
      // A second tab on the events page, which never polls: what it shows later came through the live stream.
      const watcher = await browser.newPage();
      t.teardown(() => watcher.close());
      await watcher.goto(`${base}#token=${adminToken}`);
      await go(watcher, '#/events');
      await watcher.locator('.stream-live').waitFor();
      await go(admin, `#/devices/${victim}`);
      await admin.getByRole('button', { name: 'Revoke device…' }).click();
      const dialog = admin.getByRole('dialog');
      await dialog.waitFor();
      t.same(await seriousA11y(admin), [], 'revoke dialog: no serious accessibility problem');
      await dialog.getByRole('button', { name: 'Revoke device' }).click();
      await admin.getByRole('status').filter({ hasText: 'is revoked' }).waitFor();
      await until(
        'the device to go offline',
        30_000,
        async () => (await demo.server.repos().devices.get(victim))?.state === 'offline',
      );
      t.equal((await demo.server.repos().auth.getCredential(victim))?.revokedAt !== null, true, 'credential revoked');
      const live = watcher.getByTestId('events-table').locator('tr', { hasText: 'device.revoked' });
      await live.waitFor();
      t.match(await live.textContent(), victim, 'the other tab saw the revocation arrive over the event stream');
      // A rollout to its class leaves the revoked device out, and waits on a member that went
      // silent (stopped, not revoked) until aborted.
      const silent = demo.farm.devices.filter((d) => d.deviceClass === classB && d.deviceId !== victim).at(-1);
      if (!silent) throw new Error(`the demo has no second ${classB} device`);
      await silent.stop({ clean: true });
      await until(
        'the silent device to go offline',
        30_000,
        async () => (await demo.server.repos().devices.get(silent.deviceId))?.state === 'offline',
      );
      stalled = await startRolloutFromPlan(classB);
      await until('the rollout to wait on the silent device', 30_000, async () => {
        const s = await demo.server.deploy().rollouts.status(stalled);
        return s.devices.some((d) => d.deviceId === silent.deviceId && d.state === 'notified');
      });
      const s = await demo.server.deploy().rollouts.status(stalled);
      t.equal(s.rollout.state, 'in-progress');
      t.notOk(
        s.devices.some((d) => d.deviceId === victim),
        'the revoked device is not a member',
      );
    });

    await t.test('a read token sees no button that changes anything, and the server refuses it anyway', async (t) => {
      const reader = await browser.newPage();
      t.teardown(() => reader.close());
      await reader.goto(demo.consoleLink as string);
      await reader.getByTestId('scope').waitFor();
      t.match(await reader.getByTestId('scope').textContent(), /Read-only/);
      t.notMatch(reader.url(), /token=/, 'the token left the address bar');
      await go(reader, `#/rollouts/${stalled}`);
      await reader.getByTestId('rollout-progress').waitFor();
      t.match(await reader.getByTestId('rollout-progress').textContent(), /under way/, 'the rollout is running');
      t.equal(await reader.getByRole('button', { name: /Abort/ }).count(), 0, 'no abort button');
      const refused = await reader.evaluate(async (id) => {
        const token = sessionStorage.getItem('edgefleet.console.token');
        const res = await fetch(`/v1/rollouts/${id}/abort`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{}',
        });
        return { status: res.status, body: (await res.json()) as { code: string } };
      }, stalled);
      t.match(refused, { status: 403, body: { code: 'EF_ERR_AUTH_FORBIDDEN' } }, 'the server refuses the read token');
      await go(reader, `#/plans/${classA}`);
      await reader.locator('.point-group').first().waitFor();
      t.equal(await reader.getByRole('button', { name: 'Start rollout' }).count(), 0, 'no start button');
      t.equal(await reader.getByRole('button', { name: 'Plan', exact: true }).count(), 0, 'no plan button');
      await go(reader, `#/devices/${demo.farm.devices[0]?.deviceId}`);
      await reader.locator('.facts').waitFor();
      t.equal(await reader.getByRole('button', { name: /Revoke/ }).count(), 0, 'no revoke button');
      await screenshot(reader, '1366-read-only-device');
    });

    await t.test('abort stops the stalled rollout and rolls its devices back', async (t) => {
      await go(admin, `#/rollouts/${stalled}`);
      await admin.getByRole('button', { name: 'Abort rollout…' }).click();
      const dialog = admin.getByRole('dialog');
      await dialog.getByLabel(/Reason/).fill('a device of the class is revoked');
      await dialog.getByRole('button', { name: 'Abort rollout' }).click();
      await until('the console to show the abort', 30_000, async () =>
        /^(Aborted|Rolling back): a device of the class is revoked/.test(
          (await admin.getByTestId('rollout-progress').textContent()) ?? '',
        ),
      );
      t.not(
        (await demo.server.deploy().rollouts.status(stalled)).rollout.state,
        'in-progress',
        'the server stopped it',
      );
      await screenshot(admin, '1366-rollout-aborted');
    });

    await t.test("the loop's decision is on the class's timeline", async (t) => {
      await go(admin, `#/decisions/${story}`);
      await until(
        'the loop to answer the throttling with a deploy',
        150_000,
        async () => (await admin.locator('[data-testid="timeline-decision"][data-kind="deploy"]').count()) > 0,
      );
      const deploy = admin.locator('[data-testid="timeline-decision"][data-kind="deploy"]').first();
      t.match(await deploy.textContent(), /breaching.*→/, 'the decision says why and what it changes');
      t.match(await deploy.textContent(), /ro-/, 'and links the rollout it started');
      await until(
        'the recovery',
        60_000,
        async () => (await admin.locator('[data-testid="timeline-decision"][data-kind="recovered"]').count()) > 0,
      );
      t.same(await seriousA11y(admin), [], 'decisions page: no serious accessibility problem');
      await screenshot(admin, '1366-decisions');
    });

    await t.test('classes and events pages', async (t) => {
      await go(admin, '#/classes');
      await until('three class cards', 20_000, async () => (await admin.getByTestId('class-card').count()) === 3);
      t.same(await seriousA11y(admin), [], 'classes page: no serious accessibility problem');
      await screenshot(admin, '1366-classes');
      await go(admin, '#/events');
      await until(
        'the abort among the events',
        20_000,
        async () => (await admin.getByText('rollout.aborted').count()) > 0,
      );
      t.same(await seriousA11y(admin), [], 'events page: no serious accessibility problem');
      await screenshot(admin, '1366-events');
      await go(admin, '#/rollouts');
      await admin.getByTestId('rollout-table').first().waitFor();
      await screenshot(admin, '1366-rollouts');
    });

    await t.test('keyboard: skip link, navigation, visible focus', async (t) => {
      // A person arriving in a new tab: the first Tab goes to the skip link.
      const page = await browser.newPage();
      t.teardown(() => page.close());
      await page.goto(`${base}#token=${adminToken}`);
      await page.getByTestId('fleet-summary').waitFor();
      await page.keyboard.press('Tab');
      t.equal(
        await page.evaluate(() => document.activeElement?.textContent),
        'Skip to content',
        'the first Tab reaches the skip link',
      );
      await page.keyboard.press('Enter');
      t.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'Enter moves focus to the main content');
      const nav = page.getByRole('navigation', { name: 'Console pages' }).getByRole('link', { name: 'Rollouts' });
      await nav.focus();
      const outline = await nav.evaluate((el) => getComputedStyle(el).outlineStyle);
      t.not(outline, 'none', 'the focused link shows a focus ring');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/rollouts$/);
      await page.getByTestId('rollout-table').first().waitFor();
      t.equal(
        await page.evaluate(() => document.activeElement?.id),
        'page-title',
        "focus moves to the new page's heading",
      );
    });

    await t.test('tablet width (768): every page fits without sideways scrolling', async (t) => {
      const tablet = await browser.newPage(768);
      t.teardown(() => tablet.close());
      await tablet.goto(`${base}#token=${adminToken}`);
      await tablet.getByTestId('scope').waitFor();
      const device = demo.farm.devices[0]?.deviceId as string;
      for (const [name, hash] of [
        ['fleet', '#/fleet'],
        ['device', `#/devices/${device}`],
        ['classes', '#/classes'],
        ['plans', `#/plans/${classA}`],
        ['rollout', `#/rollouts/${stalled}`],
        ['decisions', `#/decisions/${story}`],
        ['events', '#/events'],
      ] as const) {
        await go(tablet, hash);
        await tablet.waitForFunction(() => !document.querySelector('.loading'));
        // Charts size themselves to their box after the first frame.
        await tablet.waitForTimeout(400);
        t.ok(await fitsWidth(tablet), `${name} fits 768 px`);
        await screenshot(tablet, `768-${name}`);
      }
    });

    // The wrong token at sign-in (401) and the read token's abort (403) were provoked on purpose.
    const provoked = /Failed to load resource: the server responded with a status of (401|403)/;
    t.same(
      browser.problems.filter((p) => !provoked.test(p)),
      [],
      'no page error, console error or CSP violation in any page',
    );
    t.equal(browser.problems.filter((p) => provoked.test(p)).length, 2, 'only the two refusals the test provoked');
  },
);
