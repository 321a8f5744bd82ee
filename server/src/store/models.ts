/** The model repository (used by the planner's model store): uploaded ONNX models by sha256. */
import { z } from 'zod';

/** Fixed dims for symbolic inputs, by input name. */
export const modelShapesSchema = z.record(z.string(), z.array(z.number().int().positive()));

export interface ModelRow {
  readonly sha256: string;
  readonly name: string;
  /** Relative to the data directory. */
  readonly path: string;
  readonly bytes: number;
  /** Evaluation data: `mnist`, `mnist:SPLIT[:N]`, `random:N` or a sample directory. */
  readonly evalSpec: string;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly createdAt: number;
}

export interface ModelRepository {
  get(sha256: string): Promise<ModelRow | null>;
  /** Models of one name, newest first. */
  named(name: string): Promise<ModelRow[]>;
  /** Every model, by name then age. */
  list(): Promise<ModelRow[]>;
  /** False (and nothing changes) when the bytes are already stored. */
  insert(row: ModelRow): Promise<boolean>;
}
