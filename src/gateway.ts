import type { IncomingMessage, ServerResponse } from 'node:http'
import { extractCredential, InvalidTokenError } from './authn/index.ts'
import type { Credential, Identity, TokenVerifier } from './authn/index.ts'
import { authorize } from './authz/index.ts'
import type { GatehouseConfig } from './config/index.ts'
import type { AssertionSigner, UpstreamProxy } from './forward/index.ts'
import { createIdentityHeaders } from './forward/index.ts'
import { createForwardedHeaders, createInboundHeaderFilter, normalizeTarget, ProblemError, problems, sendProblem } from './http/index.ts'
import type { Problem } from './http/index.ts'
import type { ApiKeyAuthenticator, UsageCounter } from './apikeys/index.ts'
import type { RateSpec } from './config/index.ts'
import type { Logger } from './log.ts'
import type { LimitDecision, Limiter } from './ratelimit/index.ts'
import { rateLimitHeaders } from './ratelimit/index.ts'
import type { CompiledRoute, RouteTable } from './rules/index.ts'

export type GatewayDeps = {
  config: GatehouseConfig
  routes: RouteTable
  verifier: TokenVerifier
  apiKeys: ApiKeyAuthenticator
  usage: UsageCounter
  limiter: Limiter
  signer: AssertionSigner
  proxy: UpstreamProxy
  log: Logger
}

/** What the access log records of one request. */
type Outcome = { status: number; route?: CompiledRoute; identity?: Identity; requestId?: string; error?: string }

/**
 * The gateway listener's request handler: normalize → match → authenticate → authorize → limit →
 * forward, each a module of its own. Responses are written to Node's response directly (the
 * proxy streams into it); the returned promise settles once the access-log line is written.
 */
export function createPipeline(deps: GatewayDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { config, routes, verifier, apiKeys, usage, limiter, signer, proxy, log } = deps
  const policy = { identityPrefix: config.identity.headerPrefix, assertionHeader: config.identity.assertion.header }
  const passAllHeaders = createInboundHeaderFilter(policy)
  const hideCredentials = config.upstream.hideCredentials
    ? createInboundHeaderFilter({ ...policy, alsoRemove: ['authorization', 'x-api-key'] })
    : passAllHeaders
  const forwardedFor = createForwardedHeaders(config.server.trustProxy)
  const identityHeaders = createIdentityHeaders(config.identity.headerPrefix)
  const assertionHeader = config.identity.assertion.header
  const limits = config.rateLimits
  const accessLog = config.log.accessLog

  function authenticate(credential: Credential): Identity | Promise<Identity> | undefined {
    switch (credential.kind) {
      case 'none':
        return undefined
      case 'token':
        return verifier.verify(credential.token)
      case 'api_key':
        return apiKeys.authenticate(credential.key)
    }
  }

  /** Each applicable budget, keyed so that switching credentials never escapes one. */
  async function takeBudgets(route: CompiledRoute, identity: Identity | undefined, clientIp: string): Promise<LimitDecision[]> {
    const taken: LimitDecision[] = []
    const subject = identity ? subjectOf(identity) : `ip:${clientIp}`
    if (identity?.user && limits.user) taken.push(await limiter.take(`user:${identity.user.userId}`, limits.user, 'user'))
    const orgId = identity?.activeOrg?.orgId ?? identity?.org?.orgId
    if (orgId && limits.org) taken.push(await limiter.take(`org:${orgId}`, limits.org, 'org'))
    const key = identity?.apiKey
    // A generic key's override replaces the generic budget; any other key's is its own budget on
    // top of its owner's, so no key can escape the user's or the org's.
    const keyBudget = key?.rateLimit === undefined ? undefined : perMinute(key.rateLimit)
    const generic = identity?.principal === 'service' ? (keyBudget ?? limits.generic) : undefined
    if (generic) taken.push(await limiter.take(subject, generic, 'generic'))
    else if (key && keyBudget) taken.push(await limiter.take(`key:${key.id}`, keyBudget, 'key'))
    if (!identity && limits.anonymous && route.auth !== 'none') taken.push(await limiter.take(subject, limits.anonymous, 'anonymous'))
    if (route.rateLimit) taken.push(await limiter.take(`route:${route.index}:${subject}`, route.rateLimit, 'route'))
    return taken
  }

  async function run(req: IncomingMessage, res: ServerResponse): Promise<Outcome> {
    let target
    try {
      target = normalizeTarget(req.url ?? '')
    } catch (err) {
      return reject(res, err)
    }
    const match = routes.match(req.method ?? 'GET', target.path)
    if (match.kind === 'not-found') return respond(res, problems.notFound())
    if (match.kind === 'method-not-allowed') {
      return respond(res, problems.methodNotAllowed(`${req.method} is not allowed here`), ['allow', match.allow.join(', ')])
    }
    const { route, params } = match

    let identity: Identity | undefined
    if (route.auth !== 'none') {
      try {
        identity = await authenticate(extractCredential(req.headers.authorization, header(req, 'x-api-key')))
      } catch (err) {
        // optional_user semantics: a bad credential is the same as none, but "try again later" is not.
        const badCredential = err instanceof ProblemError && err.status === 401
        if (route.auth !== 'optional' || !badCredential) return reject(res, err, { route })
      }
    }

    const decision = authorize(route, identity, {
      params,
      header: (name) => header(req, name.toLowerCase()),
      query: (name) => new URLSearchParams(target.query).get(name) ?? undefined,
    })
    if (!decision.allow) {
      return respond(res, decision.problem, decision.problem.status === 401 ? WWW_AUTHENTICATE : undefined, { route, identity })
    }
    if (identity?.apiKey) usage.count(identity.apiKey.id)
    // The authenticated identity is the cached, shared one; the request's own facts go on a copy.
    const authenticated = identity
    if (identity && decision.activeOrg) identity = { ...identity, activeOrg: decision.activeOrg }

    const forwarded = forwardedFor({
      remoteAddress: req.socket.remoteAddress,
      xForwardedFor: header(req, 'x-forwarded-for'),
      xForwardedProto: header(req, 'x-forwarded-proto'),
      xForwardedHost: header(req, 'x-forwarded-host'),
      host: req.headers.host,
      requestId: header(req, 'x-request-id'),
    })
    const responseHeaders = ['x-request-id', forwarded.requestId]
    const decisions = await takeBudgets(route, identity, forwarded.clientIp)
    if (decisions.length > 0) {
      for (const [name, value] of Object.entries(rateLimitHeaders(decisions))) responseHeaders.push(name, value)
      const denied = decisions.filter((d) => !d.allowed)
      if (denied.length > 0) {
        const wait = Math.max(...denied.map((d) => d.waitSeconds))
        return respond(res, problems.tooManyRequests(Math.round(wait * 1000) / 1000), responseHeaders, {
          route,
          identity,
          requestId: forwarded.requestId,
        })
      }
    }

    const headers = (route.auth === 'none' ? passAllHeaders : hideCredentials)(req.rawHeaders)
    headers.push('x-forwarded-proto', forwarded.proto, 'x-request-id', forwarded.requestId)
    if (forwarded.forwardedFor) headers.push('x-forwarded-for', forwarded.forwardedFor)
    if (forwarded.host) headers.push('x-forwarded-host', forwarded.host)
    if (identity) {
      headers.push(...identityHeaders(identity))
      headers.push(
        assertionHeader,
        signer.bindsRequests
          ? signer.signBound(identity, { method: req.method ?? 'GET', path: target.path + target.query, requestId: forwarded.requestId })
          : signer.sign(identity, authenticated),
      )
    }
    const outcome = await proxy.forward(req, res, { path: target.path + target.query, headers, responseHeaders })
    return { status: outcome.status, route, identity, requestId: forwarded.requestId, error: outcome.error }
  }

  return async (req, res) => {
    const started = performance.now()
    let outcome: Outcome
    try {
      outcome = await run(req, res)
    } catch (err) {
      log.error({ err: errorSummary(err), method: req.method }, 'request failed')
      outcome = respond(res, problems.internal())
    }
    if (accessLog) {
      log.info(
        {
          method: req.method,
          path: (req.url ?? '').split('?', 1)[0]!.slice(0, 512),
          status: outcome.status,
          duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          route: outcome.route?.pattern,
          user_id: outcome.identity?.user?.userId,
          org_id: outcome.identity?.activeOrg?.orgId ?? outcome.identity?.org?.orgId,
          request_id: outcome.requestId,
          error: outcome.error,
        },
        'request',
      )
    }
  }
}

const WWW_AUTHENTICATE = ['www-authenticate', 'Bearer realm="gatehouse"']

function respond(res: ServerResponse, p: Problem, headers?: readonly string[], context: Omit<Outcome, 'status'> = {}): Outcome {
  sendProblem(res, p, headers)
  return { status: p.status, ...context }
}

function reject(res: ServerResponse, err: unknown, context: Omit<Outcome, 'status'> = {}): Outcome {
  if (!(err instanceof ProblemError)) throw err
  const extra = Object.entries(err.headers).flat()
  const headers = err.status === 401 ? [...WWW_AUTHENTICATE, ...extra] : extra
  return { ...respond(res, err.problem, headers, context), error: err instanceof InvalidTokenError ? err.reason : undefined }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

const perMinuteSpecs = new Map<number, RateSpec>()

function perMinute(limit: number): RateSpec {
  let spec = perMinuteSpecs.get(limit)
  if (!spec) perMinuteSpecs.set(limit, (spec = { limit, windowMs: 60_000, text: `${limit}/1m` }))
  return spec
}

function subjectOf(identity: Identity): string {
  if (identity.user) return `user:${identity.user.userId}`
  if (identity.org) return `org:${identity.org.orgId}`
  return `key:${identity.apiKey?.id ?? 'unknown'}`
}

function errorSummary(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'unknown', message: String(err) }
}
