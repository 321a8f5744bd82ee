/** The artifact repository (used by the deployer's artifact store): the chunk layout of every stored artifact. */
import { sha256HexSchema } from '@edgefleet/shared';
import { z } from 'zod';

export const chunkDigestsSchema = z.array(sha256HexSchema);

/** Stored layout of an artifact: sha256 of the file and of each chunk. */
export interface ArtifactRow {
  readonly sha256: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunks: readonly string[];
  readonly createdAt: number;
  /** Set when the artifact travels encoded [EF-PROTO 6.3]; the chunks then cut the encoded bytes. */
  readonly encoding?: 'gzip';
  readonly encodedSize?: number;
}

export interface ArtifactRepository {
  get(sha256: string): Promise<ArtifactRow | null>;
  /** Records a layout once; a second put of the same sha256 changes nothing. */
  put(row: ArtifactRow): Promise<void>;
}
