import { CredentialError, extractCredential, extractHandshakeCredential } from '../authn/index.ts'
import type { Credential, TokenVerifier } from '../authn/index.ts'
import type { Identity } from '../identity/index.ts'
import { authorize, requestOrgIdLookup } from '../authz/index.ts'
import type { ApiKeyAuthenticator } from '../apikeys/index.ts'
import { isReservedPath, REFUSED_METHODS, RESERVED_PREFIX } from '../rules/index.ts'
import type { Forwarded, Network, NormalizedTarget, Problem } from '../http/index.ts'
import { createForwardedHeaders, normalizeTarget, ProblemError, problems } from '../http/index.ts'
import { budgetsFor, rateLimitHeaders } from '../ratelimit/index.ts'
import type { LimitDecision, Limiter, RateLimits } from '../ratelimit/index.ts'
import type { CompiledRoute, RouteTable } from '../rules/index.ts'
import type { Metrics } from '../metrics/index.ts'
import { readBrowserFacts, readHandshakeFacts, readRequestFacts, readRequestHeaders } from './request-headers.ts'
import type { BrowserFacts, HandshakeFacts, RequestFacts } from './request-headers.ts'
import type { Allow, Decide, DecideOptions, Decision, DecisionRequest, Deny, DenyReason } from './types.ts'

export type DeciderDeps = {
  routes: RouteTable
  verifier: TokenVerifier
  apiKeys: ApiKeyAuthenticator
  limiter: Limiter
  limits: RateLimits
  /** `server.trust_proxy`: whose forwarding headers are believed. */
  trustProxy: readonly Network[]
  /** Told of every decision that spends budgets, whichever door asked. */
  metrics?: Metrics
}

/** A matched request between the stages. */
type Matched = {
  request: DecisionRequest
  route: CompiledRoute
  params: Record<string, string>
  target: NormalizedTarget
  facts: RequestFacts
  body: boolean
  spend: boolean
  /** Computed early only when a handshake's cookie credential needs the host to compare the Origin with. */
  forwarded?: Forwarded
}

/**
 * normalize → match → authenticate → authorize → limit, as one decision. The stages report a
 * refusal the one way they all can, sync or async: they throw a ProblemError (a CredentialError
 * for credentials, with its code and log reason); this is the one place that catches them and
 * turns them into a `deny`. Each stage runs synchronously when its input allows, and the decision
 * becomes a promise only at the first stage that returns one.
 */
export function createDecider(deps: DeciderDeps): Decide {
  const { routes, verifier, apiKeys, limiter, limits } = deps
  const forwardedFor = createForwardedHeaders(deps.trustProxy)

  function authenticate(credential: Credential, fresh: boolean): Identity | Promise<Identity> | undefined {
    switch (credential.kind) {
      case 'none':
        return undefined
      case 'token':
        return fresh ? verifier.verifyAfresh(credential.token) : verifier.verify(credential.token)
      case 'api_key':
        return fresh ? apiKeys.authenticateAfresh(credential.key) : apiKeys.authenticate(credential.key)
    }
  }

  function unauthenticated(m: Matched, err: unknown): Allow | Refusal | Promise<Allow | Refusal> {
    // optional: a refused credential is the same as none, but "try again later" is not.
    if (m.route.auth === 'optional' && err instanceof CredentialError && err.refused) return authorized(m, undefined)
    return refused(err, m.route)
  }

  function authorized(m: Matched, authenticated: Identity | undefined): Allow | Refusal | Promise<Allow | Refusal> {
    const { route, request, target } = m
    let activeOrg
    try {
      activeOrg = authorize(route, authenticated, requestOrgIdLookup(m.params, request.rawHeaders, target.query))
    } catch (err) {
      return refused(err, route, authenticated)
    }
    // The authenticated identity is the cached, shared one; the request's own facts go on a copy.
    const identity = authenticated && activeOrg ? { ...authenticated, activeOrg } : authenticated
    const forwarded = m.forwarded ?? forwardedFor(m.facts)
    const budgets = budgetsFor(route, identity, forwarded.clientIp, limits)
    const taken = m.spend ? limiter.takeAll(budgets) : limiter.peekAll(budgets)
    const limited = (decisions: readonly LimitDecision[]): Allow | Refusal => {
      const responseHeaders = ['x-request-id', forwarded.requestId]
      if (decisions.length > 0) {
        const fields = rateLimitHeaders(decisions)
        for (const name in fields) responseHeaders.push(name, fields[name]!)
        let wait = -1
        for (const d of decisions) if (!d.allowed && d.waitSeconds > wait) wait = d.waitSeconds
        if (wait >= 0) {
          const problem = problems.tooManyRequests(Math.round(wait * 1000) / 1000)
          return {
            kind: 'deny',
            reason: 'rate_limited',
            problem,
            headers: responseHeaders,
            route,
            identity,
            requestId: forwarded.requestId,
            budgets: decisions,
          }
        }
      }
      return {
        kind: 'allow',
        route,
        params: m.params,
        target,
        identity,
        authenticated,
        activeOrg,
        budgets: decisions,
        forwarded,
        body: m.body,
        responseHeaders,
      }
    }
    return taken instanceof Promise ? taken.then(limited) : limited(taken)
  }

  /**
   * A handshake's credential, from the carriers its route names. A cookie is sent by the browser
   * to whichever page opens the WebSocket, so a cookie credential is taken only from a handshake
   * whose Origin is the gateway's own host (cross-site WebSocket hijacking otherwise).
   */
  function handshakeCredential(m: Matched, handshake: HandshakeFacts): Credential {
    const { facts } = m
    const { credential, fromCookie } = extractHandshakeCredential(
      {
        authorization: facts.authorization,
        xApiKey: facts.xApiKey,
        cookie: handshake.cookie,
        websocketProtocol: handshake.websocketProtocol,
      },
      m.route.handshakeCredentials,
    )
    if (fromCookie && handshake.origin !== undefined) {
      m.forwarded = forwardedFor(facts)
      if (originHost(handshake.origin) !== m.forwarded.host.toLowerCase()) {
        throw new ProblemError(problems.forbidden('A cookie credential is accepted only from a page of this origin'))
      }
    }
    return credential
  }

  /**
   * A plain request's credential: the headers, and on a route that names a cookie in
   * `credentials_from`, that cookie. The browser attaches a cookie to requests other sites make
   * too, so a cookie credential on an unsafe method is taken only from a same-origin request (CSRF).
   */
  function requestCredential(m: Matched): Credential {
    const { facts, route } = m
    const cookies = route.handshakeCredentials.cookies
    if (cookies.length === 0) return extractCredential(facts.authorization, facts.xApiKey)
    const browser = readBrowserFacts(m.request.rawHeaders)
    const { credential, fromCookie } = extractHandshakeCredential(
      { authorization: facts.authorization, xApiKey: facts.xApiKey, cookie: browser.cookie, websocketProtocol: undefined },
      { header: true, cookies, websocketProtocol: false },
    )
    if (fromCookie) {
      m.forwarded = forwardedFor(facts)
      if (!isSameOriginOrSafe(m.request.method, browser, m.forwarded.host)) {
        throw new ProblemError(problems.forbidden('A cookie credential on this method is accepted only from a page of this origin'))
      }
    }
    return credential
  }

  /**
   * Every refusal carries a request id, the one a trusted proxy sent or a new one, as the
   * X-Request-Id of its answer and in the access log: a 404 is as worth finding as a 502.
   */
  function identified(request: DecisionRequest, decision: Allow | Refusal): Decision {
    if (decision.kind === 'allow' || decision.requestId !== undefined) return decision as Decision
    const { requestId } = forwardedFor(readRequestFacts(request.rawHeaders, request.remoteAddress, undefined))
    return { ...decision, requestId, headers: ['x-request-id', requestId, ...decision.headers] }
  }

  function decideOnce(request: DecisionRequest, options: DecideOptions | undefined): Allow | Refusal | Promise<Allow | Refusal> {
    const { method, rawHeaders } = request
    if (REFUSED.has(method)) return deny('method_not_allowed', problems.methodNotAllowed(`${method} is never forwarded`))
    let target
    let read
    try {
      read = readRequestHeaders(rawHeaders, request.httpVersion, request.remoteAddress)
      target = typeof request.target === 'string' ? normalizeTarget(request.target) : request.target
    } catch (err) {
      return refused(err)
    }
    // Whichever door asks, gatehouse's own endpoints are never a route's: the door that serves
    // one (forward-auth) answers it before deciding, and anything else there is unknown.
    if (isReservedPath(target.path)) return deny('not_found', RESERVED_NOT_FOUND)
    const match = routes.match(method, target.path)
    if (match.kind === 'not-found') return deny('not_found', problems.notFound())
    if (match.kind === 'method-not-allowed') {
      return deny('method_not_allowed', problems.methodNotAllowed(`${method} is not allowed here`), ['allow', match.allow.join(', ')])
    }
    const { route, params } = match
    const { inbound, facts } = read
    const m: Matched = { request, route, params, target, facts, body: inbound.body, spend: options?.spend ?? true }
    let handshake
    if (request.upgrade) {
      try {
        handshake = checkUpgrade(rawHeaders, route)
      } catch (err) {
        return refused(err, route)
      }
    }
    if (route.auth === 'none') return authorized(m, undefined)
    let identity
    try {
      const credential = handshake ? handshakeCredential(m, handshake) : requestCredential(m)
      identity = authenticate(credential, options?.fresh ?? false)
    } catch (err) {
      return unauthenticated(m, err)
    }
    if (identity instanceof Promise) {
      return identity.then(
        (verified) => authorized(m, verified),
        (err: unknown) => unauthenticated(m, err),
      )
    }
    return authorized(m, identity)
  }

  const decideOne: Decide = (request, options) => {
    const decided = decideOnce(request, options)
    return decided instanceof Promise ? decided.then((d) => identified(request, d)) : identified(request, decided)
  }
  const { metrics } = deps
  if (!metrics) return decideOne
  const counted = (decision: Decision): Decision => {
    metrics.decision(decision.kind === 'allow' ? 'allowed' : decision.reason)
    return decision
  }
  return (request, options) => {
    const decided = decideOne(request, options)
    // An explained request decided nothing that happened.
    if (options?.spend === false) return decided
    return decided instanceof Promise ? decided.then(counted) : counted(decided)
  }
}

/** A deny before its request id is known. */
type Refusal = Omit<Deny, 'requestId'> & { requestId?: string }

const REFUSED: ReadonlySet<string> = new Set(REFUSED_METHODS)

/**
 * The protocols a handshake asks for, each of which the route must tunnel: the upstream picks
 * among them. h2c never: after it the upstream would serve HTTP/2 requests no rule decided.
 */
function checkUpgrade(rawHeaders: readonly string[], route: CompiledRoute): HandshakeFacts {
  const handshake = readHandshakeFacts(rawHeaders)
  if (handshake.protocols.length === 0) throw new ProblemError(problems.badRequest('The Upgrade header names no protocol'))
  for (const protocol of handshake.protocols) {
    if (protocol === 'h2c' || protocol.startsWith('h2c/')) throw new ProblemError(problems.badRequest('h2c upgrades are never forwarded'))
    if (!route.upgrade.has(protocol))
      throw new ProblemError(problems.badRequest(`Upgrading to ${protocol.slice(0, 64)} is not allowed here`))
  }
  return handshake
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The CSRF rule for a request a browser may have been made to send with its cookies: a safe
 * method passes; an unsafe one needs the browser's word that a page of this origin sent it
 * (`Sec-Fetch-Site: same-origin`, or else an `Origin` whose host is `host`). Neither header: no
 * such word, refused. The login door applies the same rule to the requests that set the cookie.
 */
export function isSameOriginOrSafe(method: string, browser: Omit<BrowserFacts, 'cookie'>, host: string): boolean {
  if (SAFE_METHODS.has(method)) return true
  if (browser.secFetchSite !== undefined) return browser.secFetchSite.trim().toLowerCase() === 'same-origin'
  return browser.origin !== undefined && host !== '' && originHost(browser.origin) === host.toLowerCase()
}

/** `host[:port]` of an Origin, lower-case; '' for `null` or anything that is not a URL (never equal to a host). */
function originHost(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase()
  } catch {
    return ''
  }
}
const RESERVED_NOT_FOUND = problems.notFound(`No gatehouse endpoint here (paths under ${RESERVED_PREFIX}/ are reserved)`)
const WWW_AUTHENTICATE = ['www-authenticate', 'Bearer realm="gatehouse"']

function deny(reason: DenyReason, problem: Problem, headers: readonly string[] = []): Refusal {
  return { kind: 'deny', reason, problem, headers }
}

/** A stage's refusal as a deny; anything that is not a ProblemError is no decision and is rethrown. */
function refused(err: unknown, route?: CompiledRoute, identity?: Identity): Refusal {
  if (!(err instanceof ProblemError)) throw err
  const extra = Object.entries(err.headers).flat()
  const headers = err.status === 401 ? [...WWW_AUTHENTICATE, ...extra] : extra
  const credential = err instanceof CredentialError ? err : undefined
  return {
    kind: 'deny',
    reason: credential?.code ?? reasonOfStatus(err.status),
    problem: err.problem,
    headers,
    logReason: credential?.reason,
    route,
    identity,
  }
}

// The stages' other problems: the request's shape (400, 505), an authorization rule (403), and a
// store that cannot answer (503: the API-key lookup).
function reasonOfStatus(status: number): DenyReason {
  switch (status) {
    case 403:
      return 'forbidden'
    case 503:
      return 'store_unavailable'
    case 505:
      return 'http_version_not_supported'
    default:
      return 'bad_request'
  }
}
