/**
 * An agent process for the kill -9 fault tests: the real device (createDevice, the same as
 * `edgefleet-agent` builds) whose swap steps (SWAP_STEP_DEFS, the rollout's steps on the
 * device) can be held where a control file says, so a test can kill this process, or the
 * server, at a chosen step. Nothing is simulated but the hold.
 *
 * Usage: node --import=tsx --conditions=edgefleet-source test/helpers/fault-agent.ts CONFIG.json
 * CONFIG: { deviceId, deviceClass, brokerUrl, dataDir, trustedKeysFile, controlFile }.
 * The control file holds `{ "holdAt": "<step>" | null }`. A step named there prints
 * `FAULT-HELD <step> <deploymentId>` and waits until the file names another step (or none).
 * `download` is held once its first window (one chunk) is on disk, so a kill leaves a partial
 * download to resume. The process prints `FAULT-AGENT-READY` once it is connecting.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { createDevice, detectCapabilities, SWAP_STEP_DEFS, type SwapContext, type SwapStepDef } from '@edgefleet/agent';
import { parseTrustedKey } from '@edgefleet/shared';

interface FaultAgentConfig {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly brokerUrl: string;
  readonly dataDir: string;
  readonly trustedKeysFile: string;
  readonly controlFile: string;
}

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as FaultAgentConfig;

async function heldAt(): Promise<string | null> {
  try {
    return (JSON.parse(await readFile(config.controlFile, 'utf8')) as { holdAt: string | null }).holdAt;
  } catch {
    return null;
  }
}

/** Waits while the control file names `step`; says so once on stdout. */
async function hold(step: string, ctx: SwapContext): Promise<void> {
  if ((await heldAt()) !== step) return;
  process.stdout.write(`FAULT-HELD ${step} ${ctx.desired.body.deploymentId}\n`);
  while ((await heldAt()) === step) await new Promise((r) => setTimeout(r, 50));
}

/** The download step with its second chunk request held (the first chunk is durable by then). */
function holdingDownload(step: SwapStepDef): SwapStepDef {
  return {
    ...step,
    async run(ctx) {
      const { transport } = ctx.deps;
      let requests = 0;
      const held: SwapContext = {
        ...ctx,
        deps: {
          ...ctx.deps,
          transport: {
            listen: (handler) => transport.listen(handler),
            async request(request) {
              requests += 1;
              if (requests === 2) await hold('download', ctx);
              return transport.request(request);
            },
          },
        },
      };
      await step.run(held);
      ctx.counts = held.counts;
    },
  };
}

const steps: SwapStepDef[] = SWAP_STEP_DEFS.map((step) =>
  step.name === 'download'
    ? holdingDownload(step)
    : {
        ...step,
        async run(ctx) {
          await hold(step.name, ctx);
          await step.run(ctx);
        },
      },
);

const logger = pino({ level: 'warn', base: { service: 'fault-agent' } });
const detected = await detectCapabilities();
const device = await createDevice({
  link: {
    deviceId: config.deviceId,
    deviceClass: config.deviceClass,
    agentVersion: '0.0.0-fault',
    runtime: detected.runtime,
    capabilities: detected.capabilities,
    brokerUrl: config.brokerUrl,
    keepaliveS: 2,
    heartbeatMs: 300,
    // The fault tests restart the server under a held agent: reconnect within a second of it
    // being back, not after a backoff grown over its downtime (backoff has its own tests).
    backoff: { initialMs: 200, maxMs: 1_000 },
  },
  dataDir: config.dataDir,
  trustedKeys: readFileSync(config.trustedKeysFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => parseTrustedKey(l.trim())),
  logger,
  // One chunk per window: each window is synced before the next request, so a hold after the
  // first request leaves exactly one verified chunk on disk.
  download: { windowChunks: 1, windowTimeoutMs: 2_000 },
  swapSteps: steps,
  telemetry: false,
});
await device.start();
process.stdout.write('FAULT-AGENT-READY\n');
