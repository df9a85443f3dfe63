import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TokenVerifier } from './authn/index.ts'
import type { ApiKeyAuthenticator, UsageCounter } from './apikeys/index.ts'
import type { GatehouseConfig } from './config/index.ts'
import { createDecider } from './decide/index.ts'
import type { Allow, Decision } from './decide/index.ts'
import type { AssertionSigner, UpstreamProxy } from './forward/index.ts'
import { createIdentityFields } from './forward/index.ts'
import { createForwardAuth, isForwardAuthPath } from './forward-auth/index.ts'
import { createInboundHeaderFilter, declaresBody, normalizeTarget, ProblemError, problems, sendProblem } from './http/index.ts'
import type { NormalizedTarget, Problem } from './http/index.ts'
import type { AccessOutcome, Logger } from './log.ts'
import type { Limiter } from './ratelimit/index.ts'
import type { RouteTable } from './rules/index.ts'

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

/**
 * The gateway listener's request handler, a thin transport around the decision (src/decide):
 * it decides the request, then forwards an allowed one (header filter, identity headers,
 * assertion, 100-continue, usage, proxy) or writes a denied one's problem. The forward-auth
 * endpoint, when enabled, is handed to its door (src/forward-auth) on the canonical path.
 * Responses are written to Node's response directly (the proxy streams into it); the returned
 * promise settles once the access-log line is written.
 */
export function createPipeline(deps: GatewayDeps): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => Promise<void> {
  const { config, routes, verifier, apiKeys, usage, limiter, signer, proxy, log } = deps
  const decide = createDecider({ routes, verifier, apiKeys, limiter, limits: config.rateLimits, trustProxy: config.server.trustProxy })
  const policy = { identityPrefix: config.identity.headerPrefix, assertionHeader: config.identity.assertion.header }
  // Indexed [from a trusted proxy][hide credentials]: four filters built once, one picked per request.
  const headerFilters = [false, true].map((fromTrustedProxy) =>
    [false, true].map((hide) => createInboundHeaderFilter({ ...policy, fromTrustedProxy, alsoRemove: hide ? CREDENTIAL_HEADERS : [] })),
  )
  const identityFields = createIdentityFields({ ...policy, signer })
  const accessLog = config.log.accessLog

  const forwardAuth =
    config.forwardAuth.enabled && createForwardAuth({ decide, trustProxy: config.server.trustProxy, identityFields, usage })

  async function run(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<AccessOutcome> {
    const target = canonicalOrRaw(req.url ?? '')
    if (forwardAuth && typeof target !== 'string' && isForwardAuthPath(target.path)) return forwardAuth(req, res, target)
    const decided = decide({
      method: req.method ?? 'GET',
      target,
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      remoteAddress: req.socket.remoteAddress,
    })
    const decision: Decision = decided instanceof Promise ? await decided : decided
    const body = decision.kind === 'allow' ? decision.body : declaresBody(req)
    if (decision.route && body) boundBodyTime(req, res, decision.route.requestTimeoutMs ?? config.server.requestTimeoutMs)
    if (decision.kind === 'deny') {
      const { route, identity, requestId, reason, logReason } = decision
      return respond(res, decision.problem, decision.headers, { route, identity, requestId, reason, error: logReason })
    }
    return forward(req, res, decision, expectsContinue)
  }

  async function forward(req: IncomingMessage, res: ServerResponse, allowed: Allow, expectsContinue: boolean): Promise<AccessOutcome> {
    const { route, target, identity, forwarded } = allowed
    const hide = config.upstream.hideCredentials && !route.passCredentials
    const headers = headerFilters[forwarded.trusted ? 1 : 0]![hide ? 1 : 0]!(req.rawHeaders)
    headers.push('x-forwarded-proto', forwarded.proto, 'x-forwarded-port', forwarded.port, 'x-request-id', forwarded.requestId)
    if (forwarded.forwardedFor) headers.push('x-forwarded-for', forwarded.forwardedFor)
    if (forwarded.host) headers.push('x-forwarded-host', forwarded.host)
    if (identity) headers.push(...identityFields(allowed, req.method ?? 'GET'))
    // `Expect: 100-continue`: the client holds its body until told to send it, which is only once
    // the request has passed every check.
    if (expectsContinue) res.writeContinue()
    // Only now: a request refused by a limit (or before) is no usage.
    if (identity) usage.count(identity)
    const outcome = await proxy.forward(req, res, {
      path: target.path + target.query,
      headers,
      body: allowed.body,
      responseHeaders: allowed.responseHeaders,
    })
    return { status: outcome.status, route, identity, requestId: forwarded.requestId, error: outcome.error }
  }

  return async (req, res, expectsContinue = false) => {
    const started = performance.now()
    let outcome: AccessOutcome
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
          original: outcome.original && { method: outcome.original.method.slice(0, 32), path: outcome.original.path.slice(0, 512) },
          status: outcome.status,
          duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          route: outcome.route?.pattern,
          user_id: outcome.identity?.user?.userId,
          client_id: outcome.identity?.clientId,
          org_id: outcome.identity?.activeOrg?.orgId ?? outcome.identity?.org?.orgId,
          request_id: outcome.requestId,
          reason: outcome.reason,
          error: outcome.error,
        },
        'request',
      )
    }
  }
}

const CREDENTIAL_HEADERS = ['authorization', 'x-api-key']

/**
 * The target made canonical once, here, so that the door is chosen on the path the decision
 * matches; a target that cannot be is passed on raw, and the decision refuses it with its 400.
 */
function canonicalOrRaw(rawTarget: string): NormalizedTarget | string {
  try {
    return normalizeTarget(rawTarget)
  } catch (err) {
    if (err instanceof ProblemError) return rawTarget
    throw err
  }
}

function respond(res: ServerResponse, p: Problem, headers?: readonly string[], context: Omit<AccessOutcome, 'status'> = {}): AccessOutcome {
  // A refused request's large body is not read: the connection ends with the answer, so that a
  // 401 for a 100 MB upload does not cost 100 MB of reading. A small one is read and dropped
  // (Node does so), which keeps the connection; an `Expect: 100-continue` body is never coming.
  if (!res.req.complete && !smallBody(res.req)) res.shouldKeepAlive = false
  sendProblem(res, p, headers)
  return { status: p.status, ...context }
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

function errorSummary(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'unknown', message: String(err) }
}
