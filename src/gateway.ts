import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { accountEndpointOf } from './accounts/index.ts'
import type { AccountEndpoint, AccountsDoor } from './accounts/index.ts'
import type { UsageCounter } from './apikeys/index.ts'
import type { GatehouseConfig } from './config/index.ts'
import type { Allow, Decide, Decision, DecisionRequest } from './decide/index.ts'
import type { IdentityFields, UpstreamHeaders, UpstreamProxy } from './forward/index.ts'
import { createForwardAuth, isForwardAuthPath } from './forward-auth/index.ts'
import {
  answerClientError,
  answerOnSocket,
  checkInboundHeaders,
  normalizeTarget,
  ProblemError,
  problems,
  sendProblem,
  declaresBody,
} from './http/index.ts'
import type { NormalizedTarget, Problem } from './http/index.ts'
import { createAccessLogWriter } from './log.ts'
import type { AccessOutcome, LoggedRequest, Logger } from './log.ts'
import type { Metrics } from './metrics/index.ts'
import { pageEndpointOf } from './pages/index.ts'
import type { PageEndpoint, PagesDoor } from './pages/index.ts'

export type GatewayDeps = {
  config: GatehouseConfig
  /** The one decision, shared with the WebSocket door. */
  decide: Decide
  identityFields: IdentityFields
  upstreamHeaders: UpstreamHeaders
  usage: UsageCounter
  proxy: UpstreamProxy
  log: Logger
  metrics: Metrics
  /** The end-user endpoints (sign-in, sign-out), when end_users.enabled. */
  accounts?: AccountsDoor
  /** The self-service pages (/.gatehouse/account, invitations, their assets), when end_users.enabled. */
  pages?: PagesDoor
}

/**
 * The gateway listener's request handler, a thin transport around the decision (src/decide):
 * it decides the request, then forwards an allowed one (header filter, identity headers,
 * assertion, 100-continue, usage, proxy) or writes a denied one's problem. The forward-auth
 * endpoint, the end-user endpoints and pages, when enabled, are handed to their doors
 * (src/forward-auth, src/pages, src/accounts) on the canonical path.
 * Responses are written to Node's response directly (the proxy streams into it); a request
 * answered synchronously (a refusal) is logged before the call returns, any other returns a
 * promise that settles once its access-log line is written.
 */
export function createPipeline(
  deps: GatewayDeps,
): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => void | Promise<void> {
  const { config, decide, identityFields, upstreamHeaders, usage, proxy, log, metrics, accounts, pages } = deps
  const accessLog = config.log.accessLog && createAccessLogWriter(log)

  const forwardAuth =
    config.forwardAuth.enabled && createForwardAuth({ decide, trustProxy: config.server.trustProxy, identityFields, usage, metrics })

  // Plain functions that return a promise only where one is under way (the proxy, a door, a
  // decision that had to wait), rather than async functions awaiting each other: each async
  // layer is a promise and microtask hops per request on the hot path.
  function run(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): AccessOutcome | Promise<AccessOutcome> {
    const target = canonicalOrRaw(req.url ?? '')
    if (forwardAuth && typeof target !== 'string' && isForwardAuthPath(target.path)) return forwardAuth(req, res, target)
    // Pages first: an invitation's URL is a page for GET and the accounts door's for the POST that accepts it.
    const page = pages && typeof target !== 'string' ? pageEndpointOf(req.method ?? 'GET', target.path) : undefined
    const endpoint = !page && accounts && typeof target !== 'string' ? accountEndpointOf(target.path) : undefined
    if (page || endpoint) return answerAtDoor(req, res, page, endpoint)
    const decided = decide(decisionRequestOf(req, target))
    return decided instanceof Promise
      ? decided.then((decision) => carryOut(req, res, decision, expectsContinue))
      : carryOut(req, res, decided, expectsContinue)
  }

  function carryOut(
    req: IncomingMessage,
    res: ServerResponse,
    decision: Decision,
    expectsContinue: boolean,
  ): AccessOutcome | Promise<AccessOutcome> {
    const body = decision.kind === 'allow' ? decision.body : declaresBody(req)
    if (decision.route && body) boundBodyTime(req, res, decision.route.requestTimeoutMs ?? config.server.requestTimeoutMs)
    if (decision.kind === 'deny') {
      const { route, identity, requestId, reason, logReason } = decision
      return respond(res, decision.problem, decision.headers, { route, identity, requestId, reason, error: logReason })
    }
    return forward(req, res, decision, expectsContinue)
  }

  async function answerAtDoor(
    req: IncomingMessage,
    res: ServerResponse,
    page: PageEndpoint | undefined,
    endpoint: AccountEndpoint | undefined,
  ): Promise<AccessOutcome> {
    // The decision's request-line and header checks hold on the doors too (HTTP/0.9, two Hosts).
    const malformed = inboundRefusalOf(req)
    let outcome: AccessOutcome
    if (malformed) outcome = respond(res, malformed, undefined, { reason: 'bad_request' })
    else {
      boundBodyTime(req, res, config.server.requestTimeoutMs)
      outcome = await (page ? pages!(req, res, page) : accounts!(req, res, endpoint!))
    }
    // Whatever a door answered, its access-log line never carries a one-time link's secret.
    const hidden = oneTimeLinkPathOf(req)
    return hidden ? { ...outcome, loggedPath: hidden } : outcome
  }

  function forward(req: IncomingMessage, res: ServerResponse, allowed: Allow, expectsContinue: boolean): Promise<AccessOutcome> {
    const { route, target, identity, forwarded } = allowed
    const headers = upstreamHeaders.build(req.rawHeaders, req.method ?? 'GET', allowed)
    // `Expect: 100-continue`: the client holds its body until told to send it, which is only once
    // the request has passed every check.
    if (expectsContinue) res.writeContinue()
    // Only now: a request refused by a limit (or before) is no usage.
    if (identity) usage.count(identity)
    const upstreamStarted = performance.now()
    const forwarding = proxy.forward(req, res, {
      path: target.path + target.query,
      headers,
      body: allowed.body,
      responseHeaders: allowed.responseHeaders,
    })
    return forwarding.then((outcome) => {
      metrics.upstream(route, (performance.now() - upstreamStarted) / 1000, outcome.error)
      return { status: outcome.status, route, identity, requestId: forwarded.requestId, error: outcome.error }
    })
  }

  function failed(req: IncomingMessage, res: ServerResponse, err: unknown): AccessOutcome {
    const requestId = randomUUID()
    log.error({ err: errorSummary(err), method: req.method, request_id: requestId }, 'request failed')
    return respond(res, problems.internal(), ['x-request-id', requestId], {
      requestId,
      reason: 'internal_error',
      loggedPath: oneTimeLinkPathOf(req),
    })
  }

  return (req, res, expectsContinue = false) => {
    const started = performance.now()
    const record = (outcome: AccessOutcome): void => {
      metrics.request(outcome.route, req.method ?? 'GET', outcome.status, (performance.now() - started) / 1000)
      if (accessLog) accessLog(req, outcome, started)
    }
    let running: AccessOutcome | Promise<AccessOutcome>
    try {
      running = run(req, res, expectsContinue)
    } catch (err) {
      return record(failed(req, res, err))
    }
    if (!(running instanceof Promise)) return record(running)
    return running.then(record, (err: unknown) => record(failed(req, res, err)))
  }
}

/**
 * What the access log writes instead of a one-time link's path (its secret is the last segment):
 * for every answer of the end-user doors, a 500 included.
 */
function oneTimeLinkPathOf(req: IncomingMessage): string | undefined {
  const target = canonicalOrRaw(req.url ?? '')
  const endpoint = typeof target === 'string' ? undefined : accountEndpointOf(target.path)
  return endpoint && 'loggedPath' in endpoint ? endpoint.loggedPath : undefined
}

/** The problem of a request whose version or headers the decision would refuse too; undefined when they pass. */
function inboundRefusalOf(req: IncomingMessage): Problem | undefined {
  try {
    checkInboundHeaders(req.rawHeaders, req.httpVersion)
    return undefined
  } catch (err) {
    if (err instanceof ProblemError) return err.problem
    throw err
  }
}

/** The gateway listener's answers written on the socket itself, for what Node never hands to the request handler. */
export type SocketAnswers = {
  /** `server.on('connect')`: gatehouse never opens tunnels. */
  connect(req: IncomingMessage, socket: Duplex): void
  /** `server.on('clientError')`: a request Node's parser refused. */
  clientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void
}

/**
 * Answers on the socket that are logged and counted like every other answer: each carries an
 * X-Request-Id and writes an access-log line with its status, request id and reason. CONNECT is
 * decided by the one decision (which never forwards it), so that its request id is a trusted
 * proxy's when one sent it; a request the parser refused has no headers to read one from.
 */
export function createSocketAnswers(deps: Pick<GatewayDeps, 'config' | 'decide' | 'log' | 'metrics'>): SocketAnswers {
  const { config, decide, log, metrics } = deps
  const accessLog = config.log.accessLog && createAccessLogWriter(log)
  const record = (req: LoggedRequest, outcome: AccessOutcome, started: number) => {
    metrics.request(undefined, req.method ?? '', outcome.status, (performance.now() - started) / 1000)
    if (accessLog) accessLog(req, outcome, started)
  }
  return {
    connect(req, socket) {
      const started = performance.now()
      const answer = async () => {
        const decision = await decide(decisionRequestOf(req, req.url ?? ''))
        if (decision.kind === 'allow') throw new Error('the decision allowed a CONNECT, which is never forwarded')
        const { problem, headers, requestId, reason } = decision
        answerOnSocket(socket, problem, headers)
        record(req, { status: problem.status, requestId, reason }, started)
      }
      answer().catch((err: unknown) => {
        log.error({ err: errorSummary(err), method: req.method }, 'request failed')
        socket.destroy()
      })
    },
    clientError(err, socket) {
      const started = performance.now()
      const requestId = randomUUID()
      const answered = answerClientError(err, socket, ['x-request-id', requestId])
      if (answered) record({}, { ...answered, requestId }, started)
    },
  }
}

function decisionRequestOf(req: IncomingMessage, target: NormalizedTarget | string): DecisionRequest {
  return {
    method: req.method ?? 'GET',
    target,
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
    remoteAddress: req.socket.remoteAddress,
  }
}

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
