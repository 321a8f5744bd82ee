/** The plan repository (used by the planner and the control loop): stored plans by id and inputs hash. */
import { planSchema, type Plan } from '@edgefleet/shared';

export const storedPlanBodySchema = planSchema;

export interface PlanRow {
  readonly id: number;
  readonly deviceClass: string;
  readonly classVersion: number;
  readonly modelSha: string;
  readonly inputsKey: string;
  readonly plan: Plan;
  readonly createdAt: number;
  readonly invalidatedAt: number | null;
}

export interface PlanFilter {
  readonly deviceClass?: string;
  readonly modelSha?: string;
  /** Include plans a class update invalidated. Default false. */
  readonly includeInvalidated?: boolean;
}

export interface PlanRepository {
  /** The newest valid plan stored under this inputs hash. */
  find(inputsKey: string): Promise<PlanRow | null>;
  get(id: number): Promise<PlanRow | null>;
  /** Plans, oldest first (the newest of a class is the last). */
  list(filter?: PlanFilter): Promise<PlanRow[]>;
  /** Stores a plan and returns its id. */
  insert(row: Omit<PlanRow, 'id' | 'invalidatedAt'>): Promise<number>;
}
