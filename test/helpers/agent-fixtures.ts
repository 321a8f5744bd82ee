/** Shared pieces for agent tests: a quiet logger that records lines, and link options. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { AgentLinkOptions } from '@edgefleet/agent';
import type { Clock, RandomSource } from '@edgefleet/shared';

export interface RecordingLogger {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

/** A pino logger whose JSON lines are kept in memory (and not printed). */
export function recordingLogger(level: 'debug' | 'info' | 'warn' = 'info'): RecordingLogger {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export function linkOptions(
  overrides: Partial<AgentLinkOptions> & {
    brokerUrl: string;
    deviceId: string;
    logger: Logger;
    clock?: Clock;
    random?: RandomSource;
  },
): AgentLinkOptions {
  return {
    deviceClass: 'rpi4',
    agentVersion: '0.1.0',
    runtime: { node: process.version, onnxruntime: '1.30.0' },
    capabilities: {
      cpuModel: 'test cpu',
      cores: 4,
      memoryBytes: 1 << 30,
      executionProviders: ['cpu'],
      precisions: ['fp32', 'int8'],
      powerSource: 'none',
    },
    keepaliveS: 2,
    heartbeatMs: 200,
    ...overrides,
  };
}
