/**
 * Builds the console into dist/ (static files the server serves under /ui). `edgefleet-source`
 * lets Vite read the shared zod schemas from their TypeScript sources, so the console decodes
 * API responses with the very schemas the server validates them with.
 */
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  resolve: { conditions: ['edgefleet-source', ...defaultClientConditions] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One request per asset kind is plenty on a LAN; keep the report quiet about zod's size.
    chunkSizeWarningLimit: 400,
  },
});
