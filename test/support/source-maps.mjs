// Makes tap's coverage report real for TypeScript run through tsx. tsx's inline source maps
// carry `sourcesContent: [null]`, and v8-to-istanbul (which tap's report uses) then cannot
// map V8's ranges back to the .ts file: every file loaded showed 100% whatever ran. This
// loader hook, registered after tsx (so it sees tsx's output), fills in the original source.
// Loaded by .taprc's node-arg; it only touches our own .ts files, never node_modules.
import { register } from 'node:module';

register('./source-maps-hooks.mjs', import.meta.url);
