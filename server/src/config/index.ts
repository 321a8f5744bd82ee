/** Server configuration: one zod schema, merged from env, file and flags, frozen. */
export {
  serverConfigSchema,
  CONFIG_ENV_VARS,
  CONFIG_FILE_ENV_VAR,
  type ServerConfig,
  type ServerConfigInput,
} from './schema.js';
export { loadServerConfig, type LoadConfigOptions } from './load.js';
export { formatConfigIssues } from '@edgefleet/shared';
