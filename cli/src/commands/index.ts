import type { Command } from 'commander';
import { agentCommand } from './agent.js';
import { agentBundleCommand } from './agent-bundle.js';
import { brokerConfigCommand } from './broker-config.js';
import { deviceCommand } from './device.js';
import { enrollTokenCommand } from './enroll-token.js';
import { tokenCommand } from './token.js';
import { compressCommand } from './compress.js';
import { distillCommand, finetuneCommand } from './distill.js';
import { convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { devicesCommand } from './devices.js';
import { jobsCommand } from './jobs.js';
import { evalCommand } from './eval.js';
import { farmCommand } from './farm.js';
import { goldenCommand } from './golden.js';
import { inspectCommand } from './inspect.js';
import { classCommand } from './class.js';
import { modelCommand } from './model.js';
import { planCommand } from './plan.js';
import { rolloutCommand } from './rollout.js';
import { decisionsCommand } from './decisions.js';
import { searchCommand } from './search.js';
import { serverCommand } from './server.js';
import { workerCommand } from './worker.js';

/**
 * Every subcommand, in the order `edgefleet --help` lists them. Each module exports one
 * factory; add new commands here.
 */
export const COMMANDS: ReadonlyArray<() => Command> = [
  serverCommand,
  workerCommand,
  devicesCommand,
  jobsCommand,
  deviceCommand,
  tokenCommand,
  enrollTokenCommand,
  brokerConfigCommand,
  agentCommand,
  agentBundleCommand,
  farmCommand,
  demoCommand,
  inspectCommand,
  convertCommand,
  compressCommand,
  distillCommand,
  finetuneCommand,
  searchCommand,
  evalCommand,
  classCommand,
  modelCommand,
  planCommand,
  rolloutCommand,
  goldenCommand,
  decisionsCommand,
];
