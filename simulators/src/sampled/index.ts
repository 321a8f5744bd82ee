export * from './sampled-fleet.js';
