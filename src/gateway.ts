import type { IncomingMessage, ServerResponse } from 'node:http'
import { extractCredential, InvalidTokenError, KeySourceUnavailableError } from './authn/index.ts'
import type { Credential, Identity, TokenVerifier } from './authn/index.ts'
import { authorize } from './authz/index.ts'
import { REFUSED_METHODS } from './config/index.ts'
import type { GatehouseConfig } from './config/index.ts'
import type { AssertionSigner, UpstreamProxy } from './forward/index.ts'
import { createIdentityHeaders } from './forward/index.ts'
import {
  checkInboundHeaders,
  createForwardedHeaders,
  createInboundHeaderFilter,
  normalizeTarget,
  ProblemError,
  problems,
  sendProblem,
  singleHeader,
  singleQueryParam,
} from './http/index.ts'
import type { Problem } from './http/index.ts'
import type { ApiKeyAuthenticator, UsageCounter } from './apikeys/index.ts'
import type { RateSpec } from './config/index.ts'
import type { Logger } from './log.ts'
import type { Budget, LimitDecision, Limiter } from './ratelimit/index.ts'
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
export function createPipeline(deps: GatewayDeps): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => Promise<void> {
  const { config, routes, verifier, apiKeys, usage, limiter, signer, proxy, log } = deps
  const policy = { identityPrefix: config.identity.headerPrefix, assertionHeader: config.identity.assertion.header }
  // Indexed [from a trusted proxy][hide credentials]: four filters built once, one picked per request.
  const headerFilters = [false, true].map((fromTrustedProxy) =>
    [false, true].map((hide) => createInboundHeaderFilter({ ...policy, fromTrustedProxy, alsoRemove: hide ? CREDENTIAL_HEADERS : [] })),
  )
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

  /**
   * Each applicable budget, keyed so that switching credentials never escapes one, decided in one
   * `takeAll`: a request one budget refuses spends none of the others.
   */
  function takeBudgets(route: CompiledRoute, identity: Identity | undefined, clientIp: string): LimitDecision[] | Promise<LimitDecision[]> {
    const budgets: Budget[] = []
    const subject = identity ? subjectOf(identity) : `ip:${clientIp}`
    if (identity?.user && limits.user) budgets.push({ key: `user:${identity.user.userId}`, spec: limits.user, name: 'user' })
    const orgId = identity?.activeOrg?.orgId ?? identity?.org?.orgId
    if (orgId && limits.org) budgets.push({ key: `org:${orgId}`, spec: limits.org, name: 'org' })
    const key = identity?.apiKey
    // A generic key's override replaces the generic budget; any other key's is its own budget on
    // top of its owner's, so no key can escape the user's or the org's.
    const keyBudget = key?.rateLimit === undefined ? undefined : perMinute(key.rateLimit)
    const generic = identity?.principal === 'service' ? (keyBudget ?? limits.generic) : undefined
    if (generic) budgets.push({ key: subject, spec: generic, name: 'generic' })
    else if (key && keyBudget) budgets.push({ key: `key:${key.id}`, spec: keyBudget, name: 'key' })
    if (!identity && limits.anonymous && route.auth !== 'none') budgets.push({ key: subject, spec: limits.anonymous, name: 'anonymous' })
    if (route.rateLimit) budgets.push({ key: `route:${route.index}:${subject}`, spec: route.rateLimit, name: 'route' })
    return limiter.takeAll(budgets)
  }

  async function run(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<Outcome> {
    const method = req.method ?? 'GET'
    if (REFUSED.has(method)) return respond(res, problems.methodNotAllowed(`${method} is never forwarded`))
    let target
    let inbound
    try {
      inbound = checkInboundHeaders(req.rawHeaders, req.httpVersion)
      target = normalizeTarget(req.url ?? '')
    } catch (err) {
      return reject(res, err)
    }
    const match = routes.match(method, target.path)
    if (match.kind === 'not-found') return respond(res, problems.notFound())
    if (match.kind === 'method-not-allowed') {
      return respond(res, problems.methodNotAllowed(`${method} is not allowed here`), ['allow', match.allow.join(', ')])
    }
    const { route, params } = match
    if (hasBody(req)) boundBodyTime(req, res, route.requestTimeoutMs ?? config.server.requestTimeoutMs)

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

    let decision
    try {
      decision = authorize(route, identity, {
        params,
        header: (name) => singleHeader(req.rawHeaders, name),
        query: (name) => singleQueryParam(target.query, name),
      })
    } catch (err) {
      return reject(res, err, { route, identity })
    }
    if (!decision.allow) {
      const context = { route, identity, error: decision.reason }
      return respond(res, decision.problem, decision.problem.status === 401 ? WWW_AUTHENTICATE : undefined, context)
    }
    // The authenticated identity is the cached, shared one; the request's own facts go on a copy.
    const authenticated = identity
    if (identity && decision.activeOrg) identity = { ...identity, activeOrg: decision.activeOrg }

    const forwarded = forwardedFor({
      remoteAddress: req.socket.remoteAddress,
      xForwardedFor: header(req, 'x-forwarded-for'),
      xForwardedProto: header(req, 'x-forwarded-proto'),
      xForwardedHost: header(req, 'x-forwarded-host'),
      xForwardedPort: header(req, 'x-forwarded-port'),
      host: inbound.host,
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

    const hide = config.upstream.hideCredentials && !route.passCredentials
    const headers = headerFilters[forwarded.trusted ? 1 : 0]![hide ? 1 : 0]!(req.rawHeaders)
    headers.push('x-forwarded-proto', forwarded.proto, 'x-forwarded-port', forwarded.port, 'x-request-id', forwarded.requestId)
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
    // `Expect: 100-continue`: the client holds its body until told to send it, which is only once
    // the request has passed every check.
    if (expectsContinue) res.writeContinue()
    // Only now: a request refused by a limit (or before) is no usage.
    if (identity) usage.count(identity)
    const outcome = await proxy.forward(req, res, { path: target.path + target.query, headers, responseHeaders })
    return { status: outcome.status, route, identity, requestId: forwarded.requestId, error: outcome.error }
  }

  return async (req, res, expectsContinue = false) => {
    const started = performance.now()
    let outcome: Outcome
    try {
      outcome = await run(req, res, expectsContinue)
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
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key']
const REFUSED: ReadonlySet<string> = new Set(REFUSED_METHODS)

function respond(res: ServerResponse, p: Problem, headers?: readonly string[], context: Omit<Outcome, 'status'> = {}): Outcome {
  // A refused request's large body is not read: the connection ends with the answer, so that a
  // 401 for a 100 MB upload does not cost 100 MB of reading. A small one is read and dropped
  // (Node does so), which keeps the connection; an `Expect: 100-continue` body is never coming.
  if (!res.req.complete && !smallBody(res.req)) res.shouldKeepAlive = false
  sendProblem(res, p, headers)
  return { status: p.status, ...context }
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0'
}

/**
 * A client that sent its headers and then trickles the body would hold the connection (and an
 * upstream request) for as long as it likes: after `ms` without the whole body, 408 if nothing was
 * answered yet, and the connection is closed either way.
 */
function boundBodyTime(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const timer = setTimeout(() => {
    if (req.complete) return
    if (res.headersSent) return void req.socket.destroy()
    res.shouldKeepAlive = false
    sendProblem(res, problems.requestTimeout('The request body did not arrive in time'))
  }, ms)
  const clear = () => clearTimeout(timer)
  req.once('end', clear)
  res.once('close', clear)
}

/** The most of a refused request's body that is read to keep its connection alive. */
const DISCARDED_BODY_BYTES = 64 * 1024

function smallBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined || req.headers.expect !== undefined) return false
  return Number(req.headers['content-length'] ?? '0') <= DISCARDED_BODY_BYTES
}

function reject(res: ServerResponse, err: unknown, context: Omit<Outcome, 'status'> = {}): Outcome {
  if (!(err instanceof ProblemError)) throw err
  const extra = Object.entries(err.headers).flat()
  const headers = err.status === 401 ? [...WWW_AUTHENTICATE, ...extra] : extra
  return {
    ...respond(res, err.problem, headers, context),
    error: err instanceof InvalidTokenError || err instanceof KeySourceUnavailableError ? err.reason : undefined,
  }
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
