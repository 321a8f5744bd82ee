/** This agent's version, reported in `hello`. Kept in step with agent/package.json (a test checks). */
export const AGENT_VERSION = '0.1.0';
