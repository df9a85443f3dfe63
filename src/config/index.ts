export { loadConfig, parseConfig } from './load.ts'
export type { Environment, LoadedConfig } from './load.ts'
export { ConfigError, formatProblem } from './errors.ts'
export type { ConfigProblem } from './errors.ts'
export {
  configSchema,
  AUTH_KINDS,
  CLAIM_PRESETS,
  CREDENTIAL_KINDS,
  DEFAULT_METHODS,
  discoveryBase,
  LOCAL_ISSUER_NAME,
  REFUSED_METHODS,
  TOKEN_ALGORITHMS,
} from './schema.ts'
export type {
  AuthKind,
  ClaimPreset,
  CredentialKind,
  GatehouseConfig,
  IssuerConfig,
  RoleConfig,
  RouteConfig,
  TokenAlgorithm,
} from './schema.ts'
export { configWarnings } from './warnings.ts'
export { formatDuration, parseCidr, parseDuration, parseListen, parseRate } from './units.ts'
export type { ListenAddress, Network, RateSpec } from './units.ts'
