import type { Command } from 'commander';
import { agentCommand } from './agent.js';
import { demoCommand } from './demo.js';
import { devicesCommand } from './devices.js';
import { farmCommand } from './farm.js';
import { serverCommand } from './server.js';

/**
 * Every subcommand, in the order `edgefleet --help` lists them. Each module exports one
 * factory; add new commands here.
 */
export const COMMANDS: ReadonlyArray<() => Command> = [
  serverCommand,
  devicesCommand,
  agentCommand,
  farmCommand,
  demoCommand,
];
