/**
 * The device-class repository (used by the class service, the planner and the control loop):
 * one row per class name. A name a device announced in its hello exists without a profile
 * until someone configures it.
 */
import {
  budgetsSchema,
  classCapabilitiesSchema,
  powerModelSchema,
  profileSourcesSchema,
  speedModelSchema,
  type Budgets,
} from '@edgefleet/shared';
import { z } from 'zod';

/** What a configured class is made of besides its name, description and budgets. */
export const classProfileSchema = z.strictObject({
  capabilities: classCapabilitiesSchema,
  speedModel: speedModelSchema,
  powerModel: powerModelSchema,
  sources: profileSourcesSchema,
});
export type ClassProfile = z.infer<typeof classProfileSchema>;

/** Budgets as stored: the shared schema (decoded on read). */
export const storedBudgetsSchema = budgetsSchema;

/** A device_classes row; `profile` and `budgets` are null for a class only known from a device's hello. */
export interface ClassRow {
  readonly name: string;
  readonly description: string;
  readonly profile: ClassProfile | null;
  readonly budgets: Budgets | null;
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type DeleteClassOutcome = 'deleted' | 'absent' | 'in-use';

export interface ClassRepository {
  get(name: string): Promise<ClassRow | null>;
  /** Every class row (configured or not), by name. */
  list(): Promise<ClassRow[]>;
  /**
   * Inserts a configured class, or configures a row a hello created, and invalidates the
   * class's plans; false (nothing changes) when a configured class has the name.
   */
  create(row: {
    readonly name: string;
    readonly description: string;
    readonly profile: ClassProfile;
    readonly budgets: Budgets;
    readonly createdAt: number;
  }): Promise<boolean>;
  /**
   * Replaces the document, bumps the version and invalidates the class's plans, atomically; the new version, or null
   * when absent.
   */
  update(
    name: string,
    doc: { readonly description: string; readonly profile: ClassProfile; readonly budgets: Budgets },
    now: number,
  ): Promise<number | null>;
  /** Deletes the class and its plans; 'in-use' (nothing changes) while devices belong to it. */
  delete(name: string): Promise<DeleteClassOutcome>;
}
