/**
 * Enrolls a farm's devices with enrollment tokens, as real agents do [EF-PROTO 7.2], so a farm
 * can join any server with auth on. Each planned device keeps its identity in
 * `<dataDir>/<planned id>/identity.json` (and its enrollment in progress next to it), so a
 * restarted farm reuses them and spends no token use twice. Enrollments run a bounded number
 * at a time: a thousand at once would only meet the broker's per-address connect limit.
 */
import type { Logger } from 'pino';
import {
  AGENT_VERSION,
  brokerUrlWithCredentials,
  clearPendingEnrollment,
  enrollDevice,
  enrollIdFor,
  newPendingEnrollment,
  readIdentity,
  readPendingEnrollment,
  writeIdentity,
  writePendingEnrollment,
  type AgentIdentity,
} from '@edgefleet/agent';
import { EdgefleetError } from '@edgefleet/shared';
import { simDataDir } from './sim-telemetry.js';

export interface FarmEnrollOptions {
  readonly brokerUrl: string;
  /** Enrollment tokens; planned device i uses token i mod n (each token's class is its devices' class). */
  readonly tokens: readonly string[];
  /** The farm's planned device ids (`sim-0001`…), also asked for as device ids. */
  readonly plannedIds: readonly string[];
  readonly dataDir: string;
  readonly logger: Logger;
  /** Enrollments in flight at once. Default 32. */
  readonly concurrency?: number;
  /** How long one device keeps trying, ms. Default 300000. */
  readonly timeoutMs?: number;
  /** Called after each device has an identity (newly enrolled or stored). */
  readonly progress?: (done: number, total: number) => void;
  /**
   * The classes the farm can simulate (those with a hardware profile). A token of any other class
   * stops the enrollment after its first device, so the farm does not spend every token use first.
   */
  readonly simulatedClasses?: ReadonlySet<string>;
}

/** The error for a device enrolled into a class the farm has no hardware profile for. */
export function unsimulatedClassError(deviceClass: string, simulated: Iterable<string>): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_CONFIG_INVALID',
    `an enrollment token put a device into class ${deviceClass}, which the farm cannot simulate (it has hardware ` +
      `profiles for ${[...simulated].join(', ')}); create the farm's tokens for one of those classes ` +
      `(edgefleet enroll-token create --class rpi4), or run a real agent for ${deviceClass}`,
    { deviceClass },
  );
}

export interface FarmIdentity extends AgentIdentity {
  /** The planned id it was enrolled for (the server may have given another if that was taken). */
  readonly plannedId: string;
  /** The broker URL with this device's credentials. */
  readonly brokerUrl: string;
  /** False when it came from the data dir. */
  readonly enrolledNow: boolean;
}

/**
 * Identities for every planned device: stored ones reused, the others enrolled. Throws the first enrollment's EF_ERR.
 */
export async function enrollFarmDevices(options: FarmEnrollOptions): Promise<Map<string, FarmIdentity>> {
  if (options.tokens.length === 0) throw new RangeError('at least one enrollment token is needed');
  const result = new Map<string, FarmIdentity>();
  const todo: Array<{ plannedId: string; token: string }> = [];
  let done = 0;
  let failure: unknown = null;
  const finish = (identity: AgentIdentity, plannedId: string, enrolledNow: boolean) => {
    if (options.simulatedClasses && !options.simulatedClasses.has(identity.deviceClass))
      failure ??= unsimulatedClassError(identity.deviceClass, options.simulatedClasses);
    result.set(plannedId, {
      ...identity,
      plannedId,
      brokerUrl: brokerUrlWithCredentials(options.brokerUrl, identity.deviceId, identity.secret),
      enrolledNow,
    });
    done += 1;
    options.progress?.(done, options.plannedIds.length);
  };
  options.plannedIds.forEach((plannedId, i) => {
    const stored = readIdentity(simDataDir(options.dataDir, plannedId));
    if (stored) finish(stored, plannedId, false);
    else todo.push({ plannedId, token: options.tokens[i % options.tokens.length] as string });
  });
  let next = 0;
  async function worker(): Promise<void> {
    while (failure === null && next < todo.length) {
      const { plannedId, token } = todo[next++] as { plannedId: string; token: string };
      const dir = simDataDir(options.dataDir, plannedId);
      const tokenId = enrollIdFor(token).slice('enroll-'.length);
      const pending = readPendingEnrollment(dir, tokenId) ?? newPendingEnrollment();
      await writePendingEnrollment(dir, tokenId, pending);
      try {
        const enrolled = await enrollDevice({
          brokerUrl: options.brokerUrl,
          token,
          requestedDeviceId: plannedId,
          agentVersion: AGENT_VERSION,
          logger: options.logger,
          pending,
          timeoutMs: options.timeoutMs ?? 300_000,
        });
        const identity: AgentIdentity = { ...enrolled, signingKeys: [...enrolled.signingKeys], enrolledAt: Date.now() };
        await writeIdentity(dir, identity);
        clearPendingEnrollment(dir);
        finish(identity, plannedId, true);
      } catch (err: unknown) {
        failure ??= err;
      }
    }
  }
  const workers = Math.max(1, Math.min(options.concurrency ?? 32, todo.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== null) throw failure;
  return result;
}
