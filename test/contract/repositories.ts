/**
 * The repository contract: one suite every store implementation must pass [STYLE 15], run
 * against SQLite now (test/integration/store-sqlite.test.ts) and a Postgres implementation
 * later, through nothing but the interfaces in server/src/store/. Each area's cases live in
 * their own module; `factory` opens a fresh, empty store for every subtest.
 */
import type { Test } from 'tap';
import type { Repositories } from '@edgefleet/server/store/index';
import { deployContract } from './deploy.js';
import { plannerContract } from './planner.js';
import { registryContract } from './registry.js';
import { telemetryContract } from './telemetry.js';

/** A fresh, empty store and how to close it. */
export interface StoreUnderTest {
  readonly repos: Repositories;
  close(): Promise<void>;
}
export type StoreFactory = (t: Test) => Promise<StoreUnderTest>;

/** A case of the contract: a name and a body run on a fresh store. */
export type ContractCase = readonly [name: string, run: (t: Test, repos: Repositories) => Promise<void>];

export async function repositoryContract(t: Test, name: string, factory: StoreFactory): Promise<void> {
  const areas: ReadonlyArray<readonly [string, readonly ContractCase[]]> = [
    ['registry and auth', registryContract],
    ['classes, models, variants and plans', plannerContract],
    ['artifacts, rollouts and desired state', deployContract],
    ['telemetry and control', telemetryContract],
  ];
  for (const [area, cases] of areas)
    await t.test(`${name}: ${area}`, async (t) => {
      for (const [caseName, run] of cases)
        await t.test(caseName, async (t) => {
          const store = await factory(t);
          try {
            await run(t, store.repos);
          } finally {
            await store.close();
          }
        });
    });
}
