// The package's public API: `import { Dataplane } from 'quiver'`.
export { Dataplane, type DataplaneOptions, type InterfaceRef } from './dataplane.js';
export { type Config, ConfigError, loadConfigFile, parseConfig, validateConfig } from './config.js';
export { ApiClient, socketPath } from './client.js';
export { QuiverError } from './errors.js';
export {
  type Change,
  type CommandSpec,
  type FeatureModule,
  type FeaturePlan,
  type InterfaceSpec,
  type InterfaceType,
  type Issue,
  type PlanContext,
  checkInterface,
  commonInterfaceFields,
  defineCommand,
  interfaceNames,
  interfaceSchema,
  registerCommand,
  registerFeature,
  registerInterfaceType,
} from './feature.js';
export { runDaemon } from './daemon/daemon.js';
export type { StatsSegment } from './stats.js';
