import { METHODS } from 'node:http'
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { parseCidr } from '../http/index.ts'
import type { Network } from '../http/index.ts'
import { AUTH_KINDS, CREDENTIAL_KINDS, REFUSED_METHODS } from '../rules/index.ts'
import type { CredentialSource } from '../rules/index.ts'
import { parseDuration, parseRate } from '../units/index.ts'
import type { RateSpec } from '../units/index.ts'
import { parseListen } from './units.ts'
import type { ListenAddress } from './units.ts'
import type { MailSettings } from '../mail/index.ts'

/**
 * The config file's schema. Input keys are snake_case as users write them; the parsed
 * `GatehouseConfig` is camelCase with units resolved (durations in ms, rates as RateSpec).
 * Unknown keys are errors everywhere: a typo must never silently weaken a rule. A section left
 * out is parsed as `{}` (`.prefault({})`), so each default is written once, at its own key.
 */

const duration = z.string({ error: 'expected a duration such as 250ms, 30s, 5m, 1h' }).transform((text, ctx) => {
  const ms = parseDuration(text)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use a number with ms, s, m, h or d)` })
    return z.NEVER
  }
  return ms
})

/** A duration that must be at least 1 ms: a zero timeout would turn the bound off. */
const positiveDuration = duration.pipe(z.number().min(1, 'must be at least 1ms'))

const rate = z.string({ error: 'expected a rate such as 100/1m' }).transform((text, ctx): RateSpec => {
  const spec = parseRate(text)
  if (!spec) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a rate (use COUNT/WINDOW, e.g. 100/1m or 10/s)` })
    return z.NEVER
  }
  return spec
})

const listen = z.string().transform((text, ctx): ListenAddress => {
  const addr = parseListen(text)
  if (!addr) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a listen address (use HOST:PORT, e.g. 0.0.0.0:8080 or [::]:8080)` })
    return z.NEVER
  }
  return addr
})

const httpUrl = z.string().transform((text, ctx) => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` })
    return z.NEVER
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `"${text}" must be an http or https URL` })
    return z.NEVER
  }
  return url
})

/** `server.workers`: a count, or `auto` for one per core the process may use. */
const workers = z
  .union(
    [
      z
        .number()
        .int('expected a whole number of workers')
        .min(1, 'at least 1 worker (1 serves from the one process)')
        .max(256, 'at most 256 workers'),
      z.literal('auto'),
    ],
    { error: 'expected a number of workers or auto' },
  )
  .transform((n) => (n === 'auto' ? availableParallelism() : n))

const cidr = z.string().transform((text, ctx): Network => {
  const network = parseCidr(text)
  if (!network) {
    ctx.addIssue({ code: 'custom', message: `"${text.slice(0, 64)}" is not an IP address or CIDR block` })
    return z.NEVER
  }
  return network
})

/** The `iss` of tokens minted by the local issuer (`tokens.local_issuer`) unless the config names another. */
const LOCAL_ISSUER = 'urn:gatehouse:local'
/** The name routes use (`issuers: [local]`) for the local issuer; reserved for it. */
export const LOCAL_ISSUER_NAME = 'local'

export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number]

const oidcMapping = z
  .strictObject({
    user_id: z.string().default('sub'),
    email: z.string().default('email'),
    org_id: z.string().optional(),
    org_name: z.string().optional(),
    org_role: z.string().optional(),
  })
  .transform((m) => ({ userId: m.user_id, email: m.email, orgId: m.org_id, orgName: m.org_name, orgRole: m.org_role }))

// Auth0 Organizations put the org in org_id and org_name; roles only come from an Action's custom claim.
const AUTH0_MAPPING = oidcMapping.parse({ org_id: 'org_id', org_name: 'org_name' })

const issuerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'an issuer name is letters, digits, _, . and -')

const CLAIM_PRESETS = ['propelauth', 'oidc', 'clerk', 'auth0', 'keycloak'] as const
export type ClaimPreset = (typeof CLAIM_PRESETS)[number]

/** The presets whose roles are names from elsewhere, resolved to the configured ones (role_map, then the name without case). */
const RESOLVED_ROLE_PRESETS: readonly ClaimPreset[] = ['oidc', 'clerk', 'auth0', 'keycloak']
/** Where `permissions_claim` is read; clerk's permissions have a fixed encoding, propelauth's a fixed place. */
const PERMISSIONS_CLAIM_PRESETS: readonly ClaimPreset[] = ['oidc', 'auth0', 'keycloak']
/** Auth0's RBAC puts a user's permissions in `permissions` ("Add Permissions in the Access Token"). */
const DEFAULT_PERMISSIONS_CLAIM: Partial<Record<ClaimPreset, string>> = { auth0: 'permissions' }

const issuer = z
  .strictObject({
    name: issuerName.optional(),
    issuer: z.string().min(1),
    audience: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    jwks_url: httpUrl.optional(),
    public_key: z.string().optional(),
    public_key_file: z.string().optional(),
    algorithms: z.array(z.enum(TOKEN_ALGORITHMS)).min(1).default(['RS256']),
    claims: z.enum(CLAIM_PRESETS).default('propelauth'),
    oidc: oidcMapping.optional(),
    // The token's role name (any letter case) → a configured role, before the same-name match.
    role_map: z.record(z.string().min(1), z.string().min(1)).optional(),
    // The claim with the user's permissions in the org: an array, or one space-separated string.
    permissions_claim: z.string().min(1).optional(),
    // keycloak: the client whose resource_access roles count beside the realm roles.
    client_roles: z.string().min(1).optional(),
    // Claims that make a token a service token (client credentials), instead of the preset's rule.
    service_token_claims: z.record(z.string().min(1), z.string()).optional(),
    // any: no check of the token's type; access: refuse what is not an access token (an ID token).
    token_type: z.enum(['any', 'access']).default('any'),
  })
  .superRefine((value, ctx) => {
    const sources = [value.jwks_url, value.public_key, value.public_key_file].filter((v) => v !== undefined)
    if (sources.length > 1) {
      ctx.addIssue({ code: 'custom', message: 'set at most one of jwks_url, public_key, public_key_file' })
    }
    if (sources.length === 0 && discoveryBase(value.issuer) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: 'without jwks_url, public_key or public_key_file the issuer must be an http(s) URL, for OpenID Connect discovery',
      })
    }
    if (value.oidc && value.claims !== 'oidc' && value.claims !== 'auth0') {
      ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'oidc mapping is only read with claims: oidc or auth0' })
    }
    if (value.role_map && !RESOLVED_ROLE_PRESETS.includes(value.claims)) {
      ctx.addIssue({ code: 'custom', path: ['role_map'], message: `role_map is not read with claims: ${value.claims}` })
    }
    if (value.permissions_claim && !PERMISSIONS_CLAIM_PRESETS.includes(value.claims)) {
      ctx.addIssue({ code: 'custom', path: ['permissions_claim'], message: `permissions_claim is not read with claims: ${value.claims}` })
    }
    if (value.client_roles && value.claims !== 'keycloak') {
      ctx.addIssue({ code: 'custom', path: ['client_roles'], message: 'client_roles is only read with claims: keycloak' })
    }
    if (value.service_token_claims && Object.keys(value.service_token_claims).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['service_token_claims'],
        message: 'name at least one claim, or leave service_token_claims out',
      })
    }
    if (value.name === LOCAL_ISSUER_NAME) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `the name ${LOCAL_ISSUER_NAME} is reserved for gatehouse's own issuer` })
    }
  })
  .transform((v) => ({
    name: v.name,
    issuer: v.issuer,
    audience: v.audience,
    jwksUrl: v.jwks_url,
    publicKey: v.public_key,
    publicKeyFile: v.public_key_file,
    /** Set when the entry names no key source: the JWKS URL comes from the issuer's discovery document. */
    discovery: v.jwks_url === undefined && v.public_key === undefined && v.public_key_file === undefined,
    algorithms: v.algorithms,
    claims: v.claims,
    // auth0's mapping is Auth0's claim names with the entry's own on top (a namespaced roles claim, say).
    oidc: v.claims === 'auth0' ? { ...AUTH0_MAPPING, ...definedOnly(v.oidc ?? {}) } : (v.oidc ?? oidcMapping.parse({})),
    // Keys compared without case, as the token's role names are.
    roleMap: new Map(Object.entries(v.role_map ?? {}).map(([from, to]) => [from.toLowerCase(), to])) as ReadonlyMap<string, string>,
    permissionsClaim: v.permissions_claim ?? DEFAULT_PERMISSIONS_CLAIM[v.claims],
    clientRoles: v.client_roles,
    serviceTokenClaims: v.service_token_claims,
    tokenType: v.token_type,
  }))

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * The URL that discovery documents are found under, or undefined for an issuer that is not an
 * http(s) URL (such as a URN). OpenID Connect Discovery §4 appends to the issuer without its trailing slash.
 */
export function discoveryBase(issuer: string): URL | undefined {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return undefined
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) return undefined
  return url
}

export type IssuerConfig = z.output<typeof issuer>

/** A cookie name as RFC 6265 allows it (a token), bounded. */
const cookieName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, "a cookie name is 1-64 token characters (letters, digits, !#$%&'*+.^_`|~-)")

/** An origin (scheme, host, port) and nothing else: what a redirect target's origin is compared with. */
const origin = z.string().transform((text, ctx) => {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== text.replace(/\/$/, '')) {
    ctx.addIssue({ code: 'custom', message: 'expected an origin such as https://app.example.com (no path, query or user info)' })
    return z.NEVER
  }
  return url.origin
})

// The end-user half: sign-in on the gateway listener, its session cookie and its abuse limits.
const endUsers = z.strictObject({
  // Serves POST /.gatehouse/login and /.gatehouse/logout on the gateway listener.
  enabled: z.boolean().default(false),
  // The gateway as browsers reach it (https://app.example.com): the origin of the links gatehouse mails.
  public_url: origin.optional(),
  session: z
    .strictObject({
      cookie: cookieName.default('gatehouse_session'),
      // The lifetime of the cookie and of the access token in it.
      duration: positiveDuration.default(12 * 3_600_000),
    })
    .prefault({}),
  // Failed sign-ins allowed per account (email) and per client address before a 429.
  login_failures: z.strictObject({ per_account: rate.prefault('5/15m'), per_client: rate.prefault('50/15m') }).prefault({}),
  // Where a sign-in may send the browser afterwards: exact origins (public_url is always one).
  redirect_origins: z.array(origin).default([]),
  // The self-service page /.gatehouse/account: an org's keys are shown to, and managed by, members whose role has this permission.
  account_page: z.strictObject({ org_keys_permission: z.string().min(1).default('can_manage_api_keys') }).prefault({}),
})

const smtpUrl = z.string().transform((text, ctx) => {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || url.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'expected smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port]' })
    return z.NEVER
  }
  return url
})

// How gatehouse delivers the links it mails (invitations, magic links): exactly one of the two.
const mail = z
  .strictObject({
    // A signed JSON POST to the team's own mailer.
    webhook: z
      .strictObject({
        url: httpUrl,
        // The HMAC-SHA256 key of the Gatehouse-Signature header; at least 32 characters.
        secret: z.string().min(32, 'the webhook secret must be at least 32 characters'),
        timeout: positiveDuration.default(10_000),
      })
      .optional(),
    // An SMTP relay through nodemailer.
    smtp: z
      .strictObject({
        url: smtpUrl,
        from: z.string().min(3).max(320),
        timeout: positiveDuration.default(10_000),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    if ((m.webhook === undefined) === (m.smtp === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of mail.webhook and mail.smtp' })
    }
  })
  .transform((m): MailSettings =>
    m.webhook
      ? { kind: 'webhook', url: m.webhook.url, secret: m.webhook.secret, timeoutMs: m.webhook.timeout }
      : { kind: 'smtp', url: m.smtp!.url, from: m.smtp!.from, timeoutMs: m.smtp!.timeout },
  )

// `local_issuer: true` is this object with its defaults.
const localIssuer = z.strictObject({
  issuer: z.string().min(1).default(LOCAL_ISSUER),
  algorithm: z.enum(['ES256', 'EdDSA', 'RS256']).default('ES256'),
})

/** The readable start of an API key secret per key type (`gtu_…`), unless `api_keys.prefixes` says otherwise. */
export const DEFAULT_PREFIXES = { personal: 'gtu', org: 'gto', generic: 'gts' } as const

const keyPrefix = z.string().regex(/^[a-z][a-z0-9]{1,15}$/, 'a key prefix is 2-16 lowercase letters and digits')

const role = z.strictObject({ name: z.string().min(1), permissions: z.array(z.string().min(1)).default([]) })

// Any other method Node's parser knows (WebDAV's PROPFIND, MKCOL, …) only where a route lists it.
const routeMethod = z
  .string()
  .transform((m) => m.toUpperCase())
  .refine((m) => !(REFUSED_METHODS as readonly string[]).includes(m), { error: (i) => `${String(i.input)} is never forwarded` })
  .refine((m) => METHODS.includes(m), { error: (i) => `${String(i.input)} is not an HTTP method` })

const orgIdSource = z.string().transform((text, ctx) => {
  const m = /^(?:(path|header|query):)?([A-Za-z0-9_-]+)$/.exec(text)
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an org id source (use path:NAME, header:NAME or query:NAME)` })
    return z.NEVER
  }
  return { from: (m[1] ?? 'path') as 'path' | 'header' | 'query', name: m[2]! }
})

/** Upgrade protocols a route may tunnel; `h2c` is not one: an upstream speaking HTTP/2 would see requests no rule decided. */
const upgradeProtocol = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\/[A-Za-z0-9!#$%&'*+.^_`|~-]+)?$/, 'an upgrade protocol is a token such as websocket')
  .transform((p) => p.toLowerCase())
  .refine((p) => p !== 'h2c' && !p.startsWith('h2c/'), 'h2c upgrades are never forwarded')

const credentialSource = z.string().transform((text, ctx): CredentialSource => {
  if (text === 'header' || text === 'websocket_protocol') return { from: text }
  const cookie = /^cookie:([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/.exec(text)
  if (cookie) return { from: 'cookie', name: cookie[1]! }
  ctx.addIssue({ code: 'custom', message: `"${text}" is not a credential source (use header, cookie:NAME or websocket_protocol)` })
  return z.NEVER
})

const route = z
  .strictObject({
    path: z.string().startsWith('/', 'a route path starts with /'),
    methods: z.array(routeMethod).min(1).optional(),
    auth: z.enum(AUTH_KINDS),
    org_id: orgIdSource.optional(),
    role: z.string().optional(),
    min_role: z.string().optional(),
    permission: z.string().optional(),
    all_permissions: z.array(z.string()).min(1).optional(),
    credentials: z.array(z.enum(CREDENTIAL_KINDS)).min(1).optional(),
    scopes: z.array(z.string()).min(1).optional(),
    // Names of tokens.issuers[] entries (or local): tokens of any other issuer are refused here.
    issuers: z.array(z.string()).min(1).optional(),
    rate_limit: rate.optional(),
    // Longer (uploads) or shorter than server.request_timeout for this route's request bodies.
    request_timeout: duration.optional(),
    // The upstream does its own authentication with the caller's credential (hide_credentials off for this route).
    pass_credentials: z.boolean().default(false),
    // HTTP/1.1 Upgrade protocols tunnelled to the upstream after the handshake is decided.
    upgrade: z.array(upgradeProtocol).min(1).optional(),
    // Where a WebSocket handshake may carry its credential (browsers cannot set Authorization on one).
    credentials_from: z
      .array(credentialSource)
      .min(1)
      .default([{ from: 'header' }]),
  })
  .superRefine((r, ctx) => {
    const orgOnly = ['org_id', 'role', 'min_role', 'permission', 'all_permissions'] as const
    if (r.auth !== 'org_member') {
      for (const key of orgOnly) {
        if (r[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} needs auth: org_member` })
      }
    }
    if (r.role !== undefined && r.min_role !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['min_role'], message: 'set role or min_role, not both' })
    }
    const sources = (r.credentials_from ?? []).map((s) => (s.from === 'cookie' ? `cookie:${s.name}` : s.from))
    if (new Set(sources).size !== sources.length)
      ctx.addIssue({ code: 'custom', path: ['credentials_from'], message: 'a source is listed twice' })
    if (r.auth === 'none' || r.auth === 'optional') {
      for (const key of ['credentials', 'scopes', 'issuers'] as const) {
        if (r[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} has no effect with auth: ${r.auth}` })
      }
    }
  })

export type RouteConfig = z.output<typeof route>

const assertion = z
  .strictObject({
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/)
      .default('X-Gatehouse-Assertion'),
    // ES256, not EdDSA: jsonwebtoken, the most used JWT library in Node, cannot verify Ed25519.
    algorithm: z.enum(['EdDSA', 'ES256', 'HS256']).default('ES256'),
    // Short, because an assertion is a bearer credential of its own: a leaked one works until exp.
    ttl: duration.default(30_000),
    // Binds each assertion to its request (htm, htp, jti): one signature per request instead of one per identity.
    bind_request: z.boolean().default(false),
    audience: z.string().min(1).default('upstream'),
    issuer: z.string().min(1).default('gatehouse'),
    key_file: z.string().default('gatehouse-keys.json'),
    secret: z.string().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.algorithm === 'HS256' && (!a.secret || Buffer.byteLength(a.secret) < 32)) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'HS256 needs a shared secret of at least 32 bytes' })
    }
    if (a.algorithm !== 'HS256' && a.secret !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'secret is only used with algorithm: HS256' })
    }
    // Below that, clock skew between gatehouse and the upstream (5 s tolerated by the SDK) eats the lifetime.
    if (a.ttl < 5_000) ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'ttl must be at least 5s' })
  })
  .transform((a) => ({
    header: a.header,
    algorithm: a.algorithm,
    ttlMs: a.ttl,
    bindRequest: a.bind_request,
    audience: a.audience,
    issuer: a.issuer,
    keyFile: a.key_file,
    secret: a.secret,
  }))

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        listen: listen.default({ host: '0.0.0.0', port: 8080 }),
        trust_proxy: z.array(cidr).default([]),
        shutdown_timeout: duration.default(10_000),
        // A client that trickles its headers, or its body, holds a connection; these bound it (408).
        headers_timeout: duration.default(10_000),
        request_timeout: duration.default(60_000),
        keep_alive_timeout: duration.default(5_000),
        // Gateway processes sharing the listener (node:cluster); 1 serves from this process alone.
        workers: workers.default(1),
      })
      .prefault({}),
    upstream: z.strictObject({
      url: httpUrl,
      timeout: duration.default(30_000),
      connect_timeout: duration.default(5_000),
      body_timeout: duration.default(300_000),
      connections: z.number().int().min(1).max(4096).default(256),
      // Kong's name and meaning; the default is the safe side: the upstream gets the assertion instead.
      hide_credentials: z.boolean().default(true),
      // Route literals match in any letter case unless the upstream is known to tell cases apart.
      case_sensitive_paths: z.boolean().default(false),
      // A tunnel with no byte either way for this long is closed (a close frame to both ends).
      websocket_idle_timeout: positiveDuration.default(300_000),
    }),
    admin: z
      .strictObject({
        listen: listen.default({ host: '127.0.0.1', port: 8081 }),
        // Empty or absent: the management API is off; health, readiness and JWKS are still served.
        api_key: z
          .string()
          .transform((k) => k || undefined)
          .pipe(z.string().min(16, 'the admin api_key must be at least 16 characters').optional())
          .optional(),
      })
      .prefault({}),
    roles: z.array(role).default([]),
    tokens: z
      .strictObject({
        leeway: duration.default(60_000),
        cache: z
          .strictObject({
            max_entries: z.number().int().min(1).default(100_000),
            ttl: duration.default(30_000),
          })
          .prefault({}),
        jwks: z
          .strictObject({
            cooldown: duration.default(5_000),
            refresh: duration.default(600_000),
            timeout: duration.default(5_000),
          })
          .prefault({}),
        issuers: z.array(issuer).default([]),
        local_issuer: z
          .union([z.boolean(), localIssuer])
          .default(false)
          .transform((v) => (v === false ? undefined : v === true ? localIssuer.parse({}) : v)),
      })
      .prefault({}),
    rate_limits: z
      .strictObject({
        user: rate.optional(),
        org: rate.optional(),
        generic: rate.optional(),
        anonymous: rate.optional(),
        // Open WebSocket tunnels per caller (user, org key, service key; anonymous per client address), per replica.
        websocket_connections: z.number().int().min(1).optional(),
        max_tracked: z.number().int().min(1000).default(100_000),
      })
      .prefault({}),
    identity: z
      .strictObject({
        header_prefix: z
          .string()
          .regex(/^[A-Za-z0-9-]+-$/, 'a header prefix is letters, digits and dashes, ending in a dash')
          .default('X-Gatehouse-'),
        assertion: assertion.prefault({}),
      })
      .prefault({}),
    api_keys: z
      .strictObject({
        prefixes: z
          .strictObject({
            personal: keyPrefix.default(DEFAULT_PREFIXES.personal),
            org: keyPrefix.default(DEFAULT_PREFIXES.org),
            generic: keyPrefix.default(DEFAULT_PREFIXES.generic),
          })
          .prefault({}),
        // What an org key may do inside its org when it has no scopes.
        org_key_role: z.string().optional(),
        cache: z.strictObject({ max_entries: z.number().int().min(1).default(100_000), ttl: duration.default(30_000) }).prefault({}),
        // Imported keys have any format, so a malformed key needs a store lookup to be refused.
        accept_imported: z.boolean().default(false),
        usage_flush: duration.default(10_000),
      })
      .prefault({}),
    redis: z
      .strictObject({
        url: z.string().regex(/^rediss?:\/\//, 'a redis url is redis://HOST:PORT or rediss://…'),
        // How long a rate-limit decision waits for Redis before the local limiter answers it.
        timeout: duration.default(2000),
        // Consecutive timeouts that open the breaker, and how long it stays open before a probe.
        breaker: z.strictObject({ timeouts: z.number().int().min(1).default(3), cooldown: duration.default(1000) }).prefault({}),
        // Replicas sharing the budgets: each grants its share while Redis is unreachable.
        replicas: z.number().int().min(1).default(1),
        // How long start waits for the Redis connection before serving on the local limiter.
        start_timeout: duration.default(5000),
        key_prefix: z.string().default('gatehouse:'),
      })
      .optional(),
    store: z
      .strictObject({
        url: z
          .string()
          .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'a store url is sqlite:PATH or postgres://…')
          .default('sqlite:./data/gatehouse.db'),
        // How long one query may take (PostgreSQL client side and server side; SQLite's busy wait).
        query_timeout: positiveDuration.default(5_000),
        // How long a PostgreSQL query may wait for a pooled connection, connecting included.
        connect_timeout: positiveDuration.default(5_000),
        pool_size: z.number().int().min(1).max(1000).default(10),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
        access_log: z.boolean().default(true),
      })
      .prefault({}),
    forward_auth: z
      .strictObject({
        // Serves /.gatehouse/auth on the gateway listener, for an ingress (nginx auth_request,
        // Traefik forwardAuth, Caddy forward_auth, Envoy ext_authz) that proxies the allowed requests itself.
        enabled: z.boolean().default(false),
      })
      .prefault({}),
    config: z
      .strictObject({
        // Reload when the file changes (SIGHUP reloads either way).
        watch: z.boolean().default(false),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        // /metrics on the admin listener (Prometheus text format); off leaves the hot path no counting at all.
        enabled: z.boolean().default(true),
      })
      .prefault({}),
    end_users: endUsers.prefault({}),
    mail: mail.optional(),
    routes: z.array(route).min(1, 'at least one route is needed: unmatched requests are denied'),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>()
    c.roles.forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['roles', i, 'name'], message: `role ${r.name} is defined twice` })
      names.add(r.name)
    })
    const issuerNames = new Set<string>(c.tokens.local_issuer ? [LOCAL_ISSUER_NAME] : [])
    c.tokens.issuers.forEach((issuer, i) => {
      if (issuer.name === undefined) return
      if (issuerNames.has(issuer.name)) {
        ctx.addIssue({ code: 'custom', path: ['tokens', 'issuers', i, 'name'], message: `issuer name ${issuer.name} is used twice` })
      }
      issuerNames.add(issuer.name)
    })
    c.routes.forEach((r, i) => {
      r.issuers?.forEach((name, j) => {
        if (issuerNames.has(name)) return
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'issuers', j],
          message: `unknown issuer "${name}" (issuer names: ${[...issuerNames].join(', ') || 'none defined'})`,
        })
      })
      for (const key of ['role', 'min_role'] as const) {
        const name = r[key]
        if (name !== undefined && !names.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, key],
            message: `unknown role "${name}" (roles: ${[...names].join(', ') || 'none defined'})`,
          })
        }
      }
    })
    // The endpoint believes the original request the caller describes; only the ingress may describe one.
    if (c.forward_auth.enabled && c.server.trust_proxy.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['forward_auth', 'enabled'],
        message: 'forward_auth answers only trusted proxies: list the ingress address in server.trust_proxy',
      })
    }
    // The links are on the gateway's public URL; without it there is nothing to mail.
    if (c.mail && !c.end_users.public_url) {
      ctx.addIssue({ code: 'custom', path: ['mail'], message: 'mail sends links on end_users.public_url: set it' })
    }
    // A session is an access token of the local issuer, so sign-in needs it.
    if (c.end_users.enabled && !c.tokens.local_issuer) {
      ctx.addIssue({
        code: 'custom',
        path: ['end_users', 'enabled'],
        message: 'end-user sign-in issues local access tokens: set tokens.local_issuer',
      })
    }
    const orgKeyRole = c.api_keys.org_key_role
    if (orgKeyRole !== undefined && !names.has(orgKeyRole)) {
      ctx.addIssue({ code: 'custom', path: ['api_keys', 'org_key_role'], message: `unknown role "${orgKeyRole}"` })
    }
  })
  .transform((c) => ({
    server: {
      listen: c.server.listen,
      trustProxy: c.server.trust_proxy,
      shutdownTimeoutMs: c.server.shutdown_timeout,
      headersTimeoutMs: c.server.headers_timeout,
      requestTimeoutMs: c.server.request_timeout,
      keepAliveTimeoutMs: c.server.keep_alive_timeout,
      workers: c.server.workers,
    },
    upstream: {
      url: c.upstream.url,
      timeoutMs: c.upstream.timeout,
      connectTimeoutMs: c.upstream.connect_timeout,
      bodyTimeoutMs: c.upstream.body_timeout,
      connections: c.upstream.connections,
      hideCredentials: c.upstream.hide_credentials,
      caseSensitivePaths: c.upstream.case_sensitive_paths,
      websocketIdleTimeoutMs: c.upstream.websocket_idle_timeout,
    },
    admin: { listen: c.admin.listen, apiKey: c.admin.api_key },
    roles: c.roles,
    tokens: {
      leewayMs: c.tokens.leeway,
      cache: { maxEntries: c.tokens.cache.max_entries, ttlMs: c.tokens.cache.ttl },
      jwks: { cooldownMs: c.tokens.jwks.cooldown, refreshMs: c.tokens.jwks.refresh, timeoutMs: c.tokens.jwks.timeout },
      issuers: c.tokens.issuers,
      localIssuer: c.tokens.local_issuer,
    },
    rateLimits: {
      user: c.rate_limits.user,
      org: c.rate_limits.org,
      generic: c.rate_limits.generic,
      anonymous: c.rate_limits.anonymous,
      websocketConnections: c.rate_limits.websocket_connections,
      maxTracked: c.rate_limits.max_tracked,
    },
    identity: { headerPrefix: c.identity.header_prefix, assertion: c.identity.assertion },
    apiKeys: {
      prefixes: c.api_keys.prefixes,
      orgKeyRole: c.api_keys.org_key_role,
      cache: { maxEntries: c.api_keys.cache.max_entries, ttlMs: c.api_keys.cache.ttl },
      acceptImported: c.api_keys.accept_imported,
      usageFlushMs: c.api_keys.usage_flush,
    },
    redis: c.redis && {
      url: c.redis.url,
      timeoutMs: c.redis.timeout,
      breakerTimeouts: c.redis.breaker.timeouts,
      breakerCooldownMs: c.redis.breaker.cooldown,
      replicas: c.redis.replicas,
      startTimeoutMs: c.redis.start_timeout,
      keyPrefix: c.redis.key_prefix,
    },
    store: {
      url: c.store.url,
      queryTimeoutMs: c.store.query_timeout,
      connectTimeoutMs: c.store.connect_timeout,
      poolSize: c.store.pool_size,
    },
    log: { level: c.log.level, accessLog: c.log.access_log },
    forwardAuth: { enabled: c.forward_auth.enabled },
    configFile: { watch: c.config.watch },
    metrics: { enabled: c.metrics.enabled },
    endUsers: {
      enabled: c.end_users.enabled,
      publicUrl: c.end_users.public_url,
      session: { cookie: c.end_users.session.cookie, durationMs: c.end_users.session.duration },
      loginFailures: { perAccount: c.end_users.login_failures.per_account, perClient: c.end_users.login_failures.per_client },
      redirectOrigins: c.end_users.redirect_origins,
      accountPage: { orgKeysPermission: c.end_users.account_page.org_keys_permission },
    },
    mail: c.mail,
    routes: c.routes,
  }))

export type GatehouseConfig = z.output<typeof configSchema>
export type RoleConfig = GatehouseConfig['roles'][number]
