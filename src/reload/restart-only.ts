import type { GatehouseConfig } from '../config/index.ts'

/**
 * The settings a reload cannot apply: each is held by a part built once at start (a listener, the
 * store and Redis connections, the admin API, the assertion keys, the limiter's and tunnels'
 * tables). A reload that changes one reports it and applies everything else.
 */
const RESTART_ONLY: readonly { key: string; of: (c: GatehouseConfig) => unknown }[] = [
  { key: 'server.listen', of: (c) => c.server.listen },
  { key: 'server.headers_timeout', of: (c) => c.server.headersTimeoutMs },
  { key: 'server.keep_alive_timeout', of: (c) => c.server.keepAliveTimeoutMs },
  { key: 'server.shutdown_timeout', of: (c) => c.server.shutdownTimeoutMs },
  { key: 'admin', of: (c) => c.admin },
  { key: 'store', of: (c) => c.store },
  { key: 'redis', of: (c) => c.redis },
  { key: 'tokens.local_issuer', of: (c) => c.tokens.localIssuer },
  { key: 'identity.assertion.algorithm', of: (c) => c.identity.assertion.algorithm },
  { key: 'identity.assertion.key_file', of: (c) => c.identity.assertion.keyFile },
  { key: 'identity.assertion.secret', of: (c) => c.identity.assertion.secret },
  { key: 'rate_limits.max_tracked', of: (c) => c.rateLimits.maxTracked },
  { key: 'rate_limits.websocket_connections', of: (c) => c.rateLimits.websocketConnections },
  { key: 'api_keys.usage_flush', of: (c) => c.apiKeys.usageFlushMs },
  { key: 'end_users', of: (c) => c.endUsers },
  // The mailer is handed to the directory operations the admin API and the sign-in door are built with, once.
  { key: 'mail', of: (c) => c.mail },
]

/** The restart-only keys whose value differs between the running config and the reloaded one (names only: a value may be a secret). */
export function restartOnlyChanges(running: GatehouseConfig, next: GatehouseConfig): string[] {
  return RESTART_ONLY.filter(({ of }) => settingsKey(of(running)) !== settingsKey(of(next))).map(({ key }) => key)
}

/**
 * A comparable text of parsed settings. JSON, because the parsed config holds URLs (compared by
 * their href through toJSON) that a structural comparison would see as equal whatever they say.
 */
export function settingsKey(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) => (v instanceof Set ? [...(v as Set<unknown>)] : v)) ?? 'null'
}
