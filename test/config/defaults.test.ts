import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config/index.ts'

const UPSTREAM = 'upstream:\n  url: http://127.0.0.1:3000\n'
const ROUTES = 'routes:\n  - { path: /x, auth: none }\n'

// The defaults README.md's configuration table documents, as the parsed (camelCase, ms) config.
const DEFAULTS = {
  server: {
    listen: { host: '0.0.0.0', port: 8080 },
    trustProxy: [],
    shutdownTimeoutMs: 10_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    keepAliveTimeoutMs: 5_000,
    workers: 1,
  },
  upstream: {
    timeoutMs: 30_000,
    connectTimeoutMs: 5_000,
    bodyTimeoutMs: 300_000,
    connections: 256,
    hideCredentials: true,
    caseSensitivePaths: false,
    websocketIdleTimeoutMs: 300_000,
  },
  admin: { listen: { host: '127.0.0.1', port: 8081 }, apiKey: undefined },
  roles: [],
  tokens: {
    leewayMs: 60_000,
    cache: { maxEntries: 100_000, ttlMs: 30_000 },
    jwks: { cooldownMs: 5_000, refreshMs: 600_000, timeoutMs: 5_000 },
    issuers: [],
    localIssuer: undefined,
  },
  rateLimits: {
    user: undefined,
    org: undefined,
    generic: undefined,
    anonymous: undefined,
    websocketConnections: undefined,
    maxTracked: 100_000,
  },
  identity: {
    headerPrefix: 'X-Gatehouse-',
    assertion: {
      header: 'X-Gatehouse-Assertion',
      algorithm: 'ES256',
      ttlMs: 30_000,
      bindRequest: false,
      audience: 'upstream',
      issuer: 'gatehouse',
      keyFile: 'gatehouse-keys.json',
      secret: undefined,
    },
  },
  apiKeys: {
    prefixes: { personal: 'gtu', org: 'gto', generic: 'gts' },
    orgKeyRole: undefined,
    cache: { maxEntries: 100_000, ttlMs: 30_000 },
    acceptImported: false,
    usageFlushMs: 10_000,
  },
  redis: undefined,
  store: { url: 'sqlite:./data/gatehouse.db', queryTimeoutMs: 5_000, connectTimeoutMs: 5_000, poolSize: 10 },
  log: { level: 'info', accessLog: true },
  forwardAuth: { enabled: false },
  configFile: { watch: false },
  metrics: { enabled: true },
  endUsers: {
    enabled: false,
    publicUrl: undefined,
    session: { cookie: 'gatehouse_session', durationMs: 43_200_000 },
    loginFailures: {
      perAccount: { limit: 5, windowMs: 900_000, text: '5/15m' },
      perClient: { limit: 50, windowMs: 900_000, text: '50/15m' },
    },
    redirectOrigins: [],
    accountPage: { orgKeysPermission: 'can_manage_api_keys' },
  },
  // Nothing is mailed unless a delivery is configured.
  mail: undefined,
}

function parsedDefaults(text: string): unknown {
  const { config } = parseConfig(text, 'gh.yaml', {})
  const {
    routes,
    upstream: { url, ...upstream },
    ...rest
  } = config
  assert.equal(url.href, 'http://127.0.0.1:3000/')
  assert.equal(routes.length, 1)
  return { ...rest, upstream }
}

describe('config defaults', () => {
  it('fills every section left out with the documented defaults', () => {
    assert.deepEqual(parsedDefaults(UPSTREAM + ROUTES), DEFAULTS)
  })

  it('fills the keys of sections written empty with the same defaults', () => {
    const empty = [
      'server',
      'admin',
      'tokens',
      'rate_limits',
      'identity',
      'api_keys',
      'store',
      'log',
      'forward_auth',
      'config',
      'metrics',
      'end_users',
    ]
      .map((s) => `${s}: {}\n`)
      .join('')
    const nested =
      'tokens:\n  cache: {}\n  jwks: {}\napi_keys:\n  prefixes: {}\n  cache: {}\nidentity:\n  assertion: {}\nend_users:\n  session: {}\n  login_failures: {}\n'
    assert.deepEqual(parsedDefaults(UPSTREAM + ROUTES + empty), DEFAULTS)
    assert.deepEqual(parsedDefaults(UPSTREAM + ROUTES + nested), DEFAULTS)
  })

  it('keeps the defaults beside a key that is set', () => {
    const text =
      UPSTREAM + ROUTES + 'tokens:\n  cache: { ttl: 5s }\napi_keys:\n  prefixes: { org: acme }\nidentity:\n  assertion: { ttl: 10s }\n'
    const { config } = parseConfig(text, 'gh.yaml', {})
    assert.deepEqual(config.tokens.cache, { maxEntries: 100_000, ttlMs: 5_000 })
    assert.deepEqual(config.tokens.jwks, DEFAULTS.tokens.jwks)
    assert.deepEqual(config.apiKeys.prefixes, { personal: 'gtu', org: 'acme', generic: 'gts' })
    assert.deepEqual(config.identity.assertion, { ...DEFAULTS.identity.assertion, ttlMs: 10_000 })
  })

  it('maps an oidc issuer without a mapping to sub and email, and turns local_issuer: true into its defaults', () => {
    const issuer =
      'tokens:\n  local_issuer: true\n  issuers:\n    - { issuer: https://a.example, audience: api, public_key: k, claims: oidc }\n'
    const { config } = parseConfig(UPSTREAM + ROUTES + issuer, 'gh.yaml', {})
    assert.deepEqual(config.tokens.issuers[0]!.oidc, {
      userId: 'sub',
      email: 'email',
      orgId: undefined,
      orgName: undefined,
      orgRole: undefined,
    })
    assert.deepEqual(config.tokens.localIssuer, { issuer: 'urn:gatehouse:local', algorithm: 'ES256' })
  })
})
