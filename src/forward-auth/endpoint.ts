import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { UsageCounter } from '../apikeys/index.ts'
import type { Network, NormalizedTarget, Problem } from '../http/index.ts'
import type { Allow, Decide } from '../decide/index.ts'
import { createTrustedPeerCheck, declaresBody, ProblemError, problems, sendProblem } from '../http/index.ts'
import type { AccessOutcome } from '../log.ts'
import type { Metrics } from '../metrics/index.ts'
import { readOriginalRequest } from './original-request.ts'

export type ForwardAuthDeps = {
  decide: Decide
  /** `server.trust_proxy`: the ingresses that may ask. */
  trustProxy: readonly Network[]
  /** The identity headers and assertion of an allowed request (src/forward). */
  identityFields: (allowed: Allow, method: string) => string[]
  usage: UsageCounter
  metrics: Metrics
}

/** Answers one decision call, whose canonical target is the endpoint (see isForwardAuthPath). */
export type ForwardAuth = (req: IncomingMessage, res: ServerResponse, target: NormalizedTarget) => Promise<AccessOutcome>

const UNTRUSTED_CALLER = problems.forbidden('The forward-auth endpoint answers only the ingress (server.trust_proxy)')

/**
 * The forward-auth door: an ingress (nginx auth_request, Traefik forwardAuth, Caddy forward_auth,
 * Envoy ext_authz) asks whether a request may pass and then proxies it itself, so nothing is
 * forwarded from here and no body is read. The original request goes through the same decision
 * as a proxied one, budgets spent once; an allow answers 200 with the identity headers, the
 * assertion and the rate-limit fields as response headers for the ingress to copy upstream, a
 * deny answers its problem (401 with WWW-Authenticate, 403, 429 with Retry-After, …).
 *
 * Only a `trust_proxy` peer is answered: the call describes a request the caller says it
 * received, and its X-Forwarded-For names the client that budgets are keyed on; anyone else
 * could ask about requests never made and spend other clients' budgets.
 */
export function createForwardAuth(deps: ForwardAuthDeps): ForwardAuth {
  const { decide, identityFields, usage, metrics } = deps
  const isTrustedPeer = createTrustedPeerCheck(deps.trustProxy)

  const answer: ForwardAuth = async (req, res, target) => {
    const remoteAddress = req.socket.remoteAddress
    if (!isTrustedPeer(remoteAddress)) return refuse(req, res, UNTRUSTED_CALLER, [], 'forward-auth caller is not in server.trust_proxy')
    let original
    try {
      original = readOriginalRequest({
        method: req.method ?? 'GET',
        rawTarget: req.url ?? '',
        path: target.path,
        rawHeaders: req.rawHeaders,
      })
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err
      return refuse(req, res, err.problem, [])
    }
    const decided = decide({ ...original, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, remoteAddress })
    const decision = decided instanceof Promise ? await decided : decided
    const asked = { method: original.method, path: original.target.split('?', 1)[0]! }
    if (decision.kind === 'deny') {
      const { route, identity, requestId, reason, logReason } = decision
      return {
        ...refuse(req, res, decision.problem, decision.headers, undefined, requestId),
        original: asked,
        route,
        identity,
        requestId,
        reason,
        error: logReason,
      }
    }
    const { route, identity, forwarded } = decision
    if (identity) usage.count(identity)
    // A decision call carries no body worth reading; closing spares reading one that came anyway.
    if (decision.body) res.shouldKeepAlive = false
    res.writeHead(200, [
      ...decision.responseHeaders,
      ...identityFields(decision, original.method),
      'content-length',
      '0',
      'cache-control',
      'no-store',
    ])
    res.end()
    return { status: 200, original: asked, route, identity, requestId: forwarded.requestId }
  }

  return async (req, res, target) => {
    const outcome = await answer(req, res, target)
    metrics.forwardAuth(outcome.status === 200)
    return outcome
  }
}

/**
 * A refusal of the call itself (an untrusted caller, no original request) has no decision and so
 * no request id yet: it gets a new one, never the caller's.
 */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  problem: Problem,
  headers: readonly string[],
  error?: string,
  decidedId?: string,
): AccessOutcome {
  if (declaresBody(req)) res.shouldKeepAlive = false
  const requestId = decidedId ?? randomUUID()
  sendProblem(res, problem, decidedId === undefined ? ['x-request-id', requestId, ...headers] : headers)
  return { status: problem.status, reason: problem.status === 403 ? 'forbidden' : 'bad_request', error, requestId }
}
