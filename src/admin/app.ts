import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi'
import type { JSONWebKeySet } from 'jose'
import type { ValidationMeter } from '../apikeys/index.ts'
import type { RoleTable } from '../identity/index.ts'
import type { Mailer } from '../mail/index.ts'
import type { MetricsExposition } from '../metrics/index.ts'
import { createDirectoryOperations } from '../directory/index.ts'
import type { AccessTokenIssuer, ApiKeySettings, AuditEvent, Directory, DirectoryChange, SignInSettings } from '../directory/index.ts'
import { PROBLEM_CONTENT_TYPE, ProblemError, problems } from '../http/index.ts'
import { createPropelAuthApi } from '../propelauth/index.ts'
import type { Store } from '../store/index.ts'
import { requireAdminKey } from './auth.ts'
import { registerApiKeyRoutes } from './api-keys.ts'
import { registerExplainRoute } from './explain.ts'
import type { Explain } from './explain.ts'
import { respondToError, problemResponse, validationHook } from './errors.ts'
import { registerInviteRoutes } from './invites.ts'
import { json } from './openapi.ts'
import { registerMagicLinkRoutes } from './magic-links.ts'
import { registerOrgRoutes } from './orgs.ts'
import { problemSchema } from './schemas.ts'
import { refuseUndeclaredQueries } from './query.ts'
import { registerTokenRoutes } from './tokens.ts'
import { registerUsageRoutes } from './usage.ts'
import { registerUserRoutes } from './users.ts'

const PROBE_TAGS = ['probes']

const UNSUPPORTED_MEDIA_TYPE = {
  description: 'The body is not application/json',
  content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
}

const jwksSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string().optional(), kid: z.string().optional() })) })

/** `detail` is read after `ready` has answered, so a check that probes can report what it found. */
export type ReadinessCheck = { name: string; ready(): boolean | Promise<boolean>; detail?(): unknown }

export type AdminDeps = {
  jwks(): JSONWebKeySet
  checks: readonly ReadinessCheck[]
  /** The management API (/v1/*) is on only with both an admin API key and a store. */
  apiKey?: string
  store?: Store
  /** The configured roles; without them no role is known, so no member can be added. */
  roles?: RoleTable
  /** Without it, POST /v1/access_tokens answers 404. */
  tokens?: AccessTokenIssuer
  /** The public keys of those tokens, served at /.well-known/access-token-jwks.json when set. */
  accessTokenJwks?(): JSONWebKeySet
  /** Called synchronously after each committed write; it must not throw (the write is already done). */
  onChange?: (event: DirectoryChange) => void
  /** Called after audited writes (an API key deleted); must not throw. Never carries a secret. */
  audit?: (event: AuditEvent) => void
  /** API-key prefixes and defaults. */
  apiKeys?: ApiKeySettings
  /** The clock, Unix seconds (default: the system clock). Expiry and rotation grace use it. */
  now?: () => number
  /** Makes each API-key validation draw on its owner's rate limits and count as usage. */
  meter?: ValidationMeter
  /** POST /v1/explain answers with it; without it the endpoint is absent. */
  explain?: Explain
  /** Served at /metrics without a key, like the probes (the listener binds to loopback by default); absent: 404. */
  metrics?: MetricsExposition
  /** The gateway's public URL and redirect origins: magic links are refused without the URL. */
  signIn?: SignInSettings
  /** Mails invitations; without it an invitation is answered with its URL only. */
  mailer?: Mailer
}

/** What the admin API takes from an opened directory; the listener adds the key, probes and change events. */
export function adminDepsOf(directory: Directory): AdminDeps {
  const { store, roles, localIssuer, apiKeys } = directory
  return { jwks: () => NO_KEYS, checks: [], store, roles, tokens: localIssuer, accessTokenJwks: localIssuer?.jwks, apiKeys }
}

const NO_KEYS = Object.freeze({ keys: [] })

/**
 * The admin listener: probes, metrics and the assertion keys (public), the management API under /v1/
 * (admin API key), and /openapi.json describing both. It binds to loopback by default.
 */
export function createAdminApp(deps: AdminDeps): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook })
  refuseUndeclaredQueries(app)
  registerProbes(app, deps)

  const { apiKey, store } = deps
  if (apiKey === undefined || store === undefined) {
    const why = apiKey === undefined ? 'set admin.api_key' : 'it needs a store'
    const off = () => {
      throw new ProblemError(problems.notFound(`The management API is off: ${why}`))
    }
    app.use('/v1/*', off)
    app.use('/api/*', off)
  } else {
    // Before any route reads a body, so only key holders get that far.
    app.use('/v1/*', requireAdminKey(apiKey))
    app.openAPIRegistry.registerComponent('securitySchemes', 'adminKey', {
      type: 'http',
      scheme: 'bearer',
      description: 'The admin API key (admin.api_key)',
    })
    const directory = createDirectoryOperations({
      store,
      roles: deps.roles,
      tokens: deps.tokens,
      onChange: deps.onChange,
      audit: deps.audit,
      apiKeys: deps.apiKeys,
      now: deps.now,
      meter: deps.meter,
      signIn: deps.signIn,
      mailer: deps.mailer,
    })
    const ctx = { directory }
    registerUserRoutes(app, ctx)
    registerOrgRoutes(app, ctx)
    registerTokenRoutes(app, ctx)
    registerApiKeyRoutes(app, ctx)
    registerUsageRoutes(app, ctx)
    if (deps.explain) registerExplainRoute(app, deps.explain)
    registerMagicLinkRoutes(app, ctx)
    registerInviteRoutes(app, ctx)
    // PropelAuth's SDKs, pointed at this listener: the same directory in PropelAuth's wire format.
    app.route(
      '/',
      createPropelAuthApi({
        directory,
        requireKey: requireAdminKey(apiKey),
        accessTokenJwks: deps.accessTokenJwks,
        issuesTokens: deps.tokens !== undefined,
      }),
    )
  }

  completeOperations(app)
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'gatehouse admin API',
      version: '1',
      description: "Probes, the assertion keys, and the identity backend's management API (PropelAuth's backend functions).",
    },
  })
  app.notFound(() => problemResponse(problems.notFound('No such admin endpoint')))
  app.onError(respondToError)
  return app
}

/**
 * What every operation states alike, added once here: an operationId from its method and path
 * (`get /v1/users/{user_id}` is getUsersByUserId), so that client generators name their methods
 * the same on every build, and the 415 that any operation taking a JSON body answers to another
 * content type.
 */
function completeOperations(app: OpenAPIHono): void {
  const camel = (word: string) => word.replace(/(?:^|[_\-.])([a-z0-9])/g, (_, c: string) => c.toUpperCase())
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== 'route') continue
    const { route } = definition
    if (route.request?.body) route.responses[415] ??= UNSUPPORTED_MEDIA_TYPE
    if (route.operationId !== undefined) continue
    const words = route.path
      .split('/')
      .filter((segment) => segment !== '' && segment !== 'v1')
      .map((segment) => (segment.startsWith('{') ? `By${camel(segment.slice(1, -1))}` : camel(segment)))
    route.operationId = route.method + words.join('')
  }
}

function registerProbes(app: OpenAPIHono, deps: AdminDeps): void {
  const tags = PROBE_TAGS
  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags,
      summary: 'Liveness',
      responses: { 200: json('Alive', z.object({ status: z.literal('ok') })) },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  )

  const readiness = z.object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ready: z.boolean(), detail: z.unknown().optional() })),
  })
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags,
      summary: 'Readiness: 503 until every check passes',
      responses: { 200: json('Ready', readiness), 503: json('Not ready', readiness) },
    }),
    async (c) => {
      const evaluated = await Promise.all(
        deps.checks.map(async (check) => {
          const ready = await check.ready()
          const detail: unknown = check.detail?.()
          return [check.name, detail === undefined ? { ready } : { ready, detail }] as const
        }),
      )
      const checks = Object.fromEntries(evaluated)
      const ready = Object.values(checks).every((check) => check.ready)
      return ready ? c.json({ status: 'ready' as const, checks }, 200) : c.json({ status: 'not_ready' as const, checks }, 503)
    },
  )

  const { metrics } = deps
  if (metrics) {
    app.openapi(
      createRoute({
        method: 'get',
        path: '/metrics',
        tags,
        summary: 'Metrics in the Prometheus text format',
        // The media type without its parameters (the Prometheus text format's version), as OpenAPI keys content.
        responses: { 200: { description: 'The metrics', content: { 'text/plain': { schema: z.string() } } } },
      }),
      async (c) => c.text(await metrics.scrape(), 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }),
    )
  }

  registerJwks(app, '/.well-known/jwks.json', 'The public keys of the identity assertions gatehouse forwards upstream', deps.jwks)
  if (deps.accessTokenJwks) {
    registerJwks(
      app,
      '/.well-known/access-token-jwks.json',
      "The public keys of gatehouse's own access tokens (tokens.local_issuer)",
      deps.accessTokenJwks,
    )
  }
}

function registerJwks(app: OpenAPIHono, path: string, summary: string, keys: () => JSONWebKeySet): void {
  app.openapi(
    createRoute({ method: 'get', path, tags: PROBE_TAGS, summary, responses: { 200: json('A JSON Web Key Set', jwksSchema) } }),
    (c) => {
      c.header('cache-control', 'public, max-age=300')
      return c.json(keys(), 200)
    },
  )
}
