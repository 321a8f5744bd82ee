/**
 * The toolkit's seeded generator is the project's one PRNG, kept in shared/ so the simulators
 * and the server draw from the same code; this module re-exports it under its old path.
 */
export { createRng, deriveSeed, type Rng } from '@edgefleet/shared/random';
