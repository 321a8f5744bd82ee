import type { Command } from 'commander';

/**
 * Every subcommand, in the order `edgefleet --help` lists them. Each module exports one
 * factory; add new commands here.
 */
export const COMMANDS: ReadonlyArray<() => Command> = [];
