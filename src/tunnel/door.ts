import { randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { UsageCounter } from '../apikeys/index.ts'
import { BEARER_SUBPROTOCOL, splitSubprotocols } from '../authn/index.ts'
import type { GatehouseConfig } from '../config/index.ts'
import type { Allow, Decide, Decision } from '../decide/index.ts'
import type { UpstreamHeaders } from '../forward/index.ts'
import { answerOnSocket, ProblemError, problems } from '../http/index.ts'
import type { Problem } from '../http/index.ts'
import type { InvalidationEvent } from '../invalidation/index.ts'
import { accessLogFields } from '../log.ts'
import type { AccessOutcome, Logger } from '../log.ts'
import { callerOf, createTunnelRegistry } from './registry.ts'
import type { OpenTunnel, TunnelRegistry } from './registry.ts'
import { CLOSE_GRACE_MS, Tunnel } from './tunnel.ts'
import type { TunnelStats } from './tunnel.ts'

export type TunnelDoorDeps = {
  config: GatehouseConfig
  /** The one decision, shared with the proxy. */
  decide: Decide
  upstreamHeaders: UpstreamHeaders
  usage: UsageCounter
  log: Logger
  /**
   * The open tunnels, when they outlive this door: a config reload builds a new door, and the
   * tunnels opened through the old one must still be counted, revoked and closed at shutdown.
   */
  registry?: TunnelRegistry
}

export type TunnelDoor = {
  /** `server.on('upgrade')`: decides the handshake, then relays the upstream's answer and, after a 101, the bytes. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Ends the tunnels of the identities a directory change evicts (an archived key, a disabled user). */
  revoke(change: InvalidationEvent): void
  /** Ends every tunnel with a close frame (1001) and refuses new handshakes. */
  closeAll(): void
  /** Tunnels open now, for the metrics gauge. */
  openTunnels(): number
}

/** What the access-log line of one handshake records; for a tunnel, written when it ends. */
type HandshakeOutcome = AccessOutcome & { tunnel?: TunnelStats }

/** What the upstream is sent, and whether the client offered the bearer subprotocol (echoed when the upstream picks none). */
type HandshakeHeaders = { headers: string[]; bearerOffered: boolean }

/** A registry slot taken before the upstream has answered; what closed it meanwhile is applied to the tunnel. */
type PendingTunnel = OpenTunnel & { closedEarly?: 'revoked' | 'shutdown' }

// Connection-scoped response headers are each hop's own (RFC 9110 §7.6.1); a relayed refusal ends its connection.
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

/**
 * The WebSocket door (any HTTP/1.1 Upgrade): the handshake is decided like every request, then
 * sent to the upstream with the headers the proxy sends; the client's bytes after the handshake
 * are held until the upstream has answered 101, so that nothing the client sent reaches the
 * upstream unless it is a tunnel. Any other answer is relayed as an HTTP response and the
 * connection ends.
 */
export function createTunnelDoor(deps: TunnelDoorDeps): TunnelDoor {
  const { config, decide, upstreamHeaders, usage, log } = deps
  const registry = deps.registry ?? createTunnelRegistry(config.rateLimits.websocketConnections)
  const { cap } = registry
  const upstreamUrl = config.upstream.url
  const basePath = upstreamUrl.pathname.replace(/\/$/, '')
  const sendRequest = upstreamUrl.protocol === 'https:' ? httpsRequest : httpRequest

  async function run(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<HandshakeOutcome> {
    const request = {
      method: req.method ?? 'GET',
      target: req.url ?? '',
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      remoteAddress: req.socket.remoteAddress,
      upgrade: true,
    }
    const heard = registry.changesHeard()
    let decision: Decision = await decide(request)
    // A change that came while this was decided may have come after what the decision read: a
    // request would be answered once, a tunnel would outlive the change. Decided again (the
    // caches are evicted by now), without spending the budgets a second time.
    if (decision.kind === 'allow' && decision.identity && registry.revokedSince(heard, decision.identity)) {
      const again = await decide(request, { spend: false })
      if (again.kind === 'deny') decision = again
    }
    if (decision.kind === 'deny') {
      const { route, identity, requestId, reason, logReason } = decision
      return refuse(socket, decision.problem, decision.headers, { route, identity, requestId, reason, error: logReason })
    }
    const context = { route: decision.route, identity: decision.identity, requestId: decision.forwarded.requestId }
    // The upgraded connection has no body framing: bytes after the header section are the tunnel's.
    if (decision.body) {
      return refuse(socket, problems.badRequest('An upgrade request has no body'), decision.responseHeaders, {
        ...context,
        reason: 'bad_request',
      })
    }
    if (registry.closing) {
      return refuse(socket, problems.serviceUnavailable('The gateway is shutting down'), decision.responseHeaders, {
        ...context,
        reason: 'shutting_down',
      })
    }
    // Until the upstream's 101 there is no tunnel to close: a revocation or a shutdown in between is kept for it.
    const slot: PendingTunnel = {
      identity: decision.identity,
      caller: callerOf(decision.identity, decision.forwarded.clientIp),
      close: (why) => void (slot.closedEarly ??= why),
    }
    if (!registry.open(slot)) {
      return refuse(socket, problems.tooManyTunnels(cap!), decision.responseHeaders, { ...context, reason: 'rate_limited' })
    }
    try {
      // A route without authentication has not parsed the subprotocol list yet: a malformed one is refused here.
      const sent = handshakeHeaders(req.rawHeaders, request.method, decision)
      if (decision.identity) usage.count(decision.identity)
      return await relay(req, socket, head, decision, sent, slot)
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err
      // The subprotocol list, read only here on a route without authentication: malformed, 400.
      return refuse(socket, err.problem, decision.responseHeaders, { ...context, reason: 'bad_request' })
    } finally {
      registry.release(slot)
    }
  }

  /** Sends the handshake upstream; resolves when its answer is relayed, or, after a 101, when the tunnel ends. */
  function relay(
    req: IncomingMessage,
    client: Duplex,
    head: Buffer,
    allowed: Allow,
    { headers, bearerOffered }: HandshakeHeaders,
    slot: PendingTunnel,
  ): Promise<HandshakeOutcome> {
    const context = { route: allowed.route, identity: allowed.identity, requestId: allowed.forwarded.requestId }
    return new Promise((resolve) => {
      let timedOut = false
      const upstream: ClientRequest = sendRequest({
        host: upstreamUrl.hostname,
        port: upstreamUrl.port || undefined,
        method: req.method,
        path: basePath + allowed.target.path + allowed.target.query,
        headers,
        agent: false,
      })
      const deadline = setTimeout(() => {
        timedOut = true
        upstream.destroy()
      }, config.upstream.timeoutMs)
      // The client went away before the upstream answered: the handshake has no taker.
      const onClientGone = () => upstream.destroy()
      client.once('close', onClientGone)
      const settle = () => {
        clearTimeout(deadline)
        client.off('close', onClientGone)
      }
      upstream.on('error', () => {
        settle()
        if (client.destroyed) return resolve({ status: 499, ...context, error: 'client-closed' })
        const failure = timedOut
          ? { problem: problems.gatewayTimeout('The upstream did not answer in time'), error: 'timeout' }
          : { problem: problems.badGateway('The upstream could not be reached'), error: 'connect' }
        resolve(refuse(client, failure.problem, allowed.responseHeaders, { ...context, error: failure.error }))
      })
      upstream.on('response', (res) => {
        settle()
        resolve(relayResponse(res, client, allowed.responseHeaders, context))
      })
      upstream.on('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
        settle()
        if (client.destroyed) {
          upstreamSocket.destroy()
          return resolve({ status: 499, ...context, error: 'client-closed' })
        }
        upstreamSocket.setNoDelay(true)
        client.write(switchingProtocols(res, bearerOffered, allowed.responseHeaders))
        const websocket = (res.headers.upgrade ?? '').toLowerCase() === 'websocket'
        // Node types the upgraded connection as a Duplex; on an HTTP listener it is the net.Socket.
        const tunnel = new Tunnel(client as Socket, upstreamSocket, {
          websocket,
          idleTimeoutMs: config.upstream.websocketIdleTimeoutMs,
          early: { fromClient: head, fromUpstream: upstreamHead },
          onFinish: (stats) => resolve({ status: 101, ...context, tunnel: stats }),
        })
        if (slot.closedEarly) tunnel.close(slot.closedEarly)
        slot.close = (why) => tunnel.close(why)
      })
      upstream.end()
    })
  }

  /**
   * The proxy's headers (which leave out a credential cookie under hide_credentials), plus the
   * upgrade request itself; with hide_credentials, also without the bearer subprotocol's credential.
   */
  function handshakeHeaders(rawHeaders: readonly string[], method: string, allowed: Allow): HandshakeHeaders {
    const { route } = allowed
    const hide = upstreamHeaders.hidesCredentials(route)
    const from = route.handshakeCredentials
    let bearerOffered = false
    const headers: string[] = []
    const built = upstreamHeaders.build(rawHeaders, method, allowed)
    for (let i = 0; i + 1 < built.length; i += 2) {
      const name = built[i]!
      let value: string | undefined = built[i + 1]!
      const folded = name.toLowerCase()
      if (folded === 'sec-websocket-protocol' && from.websocketProtocol) {
        const offered = splitSubprotocols(value)
        bearerOffered ||= offered.bearer
        if (hide && offered.bearer) value = offered.others.length > 0 ? offered.others.join(', ') : undefined
      }
      if (value !== undefined) headers.push(name, value)
    }
    headers.push('host', upstreamUrl.host, 'connection', 'Upgrade', 'upgrade', upgradeValue(rawHeaders))
    return { headers, bearerOffered }
  }

  function finish(req: IncomingMessage, started: number, outcome: HandshakeOutcome): void {
    if (!config.log.accessLog) return
    const { tunnel } = outcome
    log.info(
      {
        ...accessLogFields(req, outcome, started),
        ...(tunnel && { closed_by: tunnel.end, bytes_from_client: tunnel.bytesFromClient, bytes_from_upstream: tunnel.bytesFromUpstream }),
      },
      'websocket',
    )
  }

  return {
    handle(req, socket, head) {
      const started = performance.now()
      // Nothing the client sends after the handshake is read until the upstream has answered 101.
      socket.pause()
      socket.on('error', () => socket.destroy())
      run(req, socket, head)
        .catch((err: unknown) => {
          const requestId = randomUUID()
          log.error(
            { err: err instanceof Error ? { name: err.name, message: err.message } : String(err), request_id: requestId },
            'websocket handshake failed',
          )
          return refuse(socket, problems.internal(), ['x-request-id', requestId], { requestId, reason: 'internal_error' })
        })
        .then((outcome) => finish(req, started, outcome))
        .catch(() => {})
    },
    revoke: (change) => registry.revoke(change),
    closeAll: () => registry.closeAll(),
    openTunnels: () => registry.size,
  }
}

/** The Upgrade protocols as the client sent them: the decision has checked every one against the route. */
function upgradeValue(rawHeaders: readonly string[]): string {
  const values: string[] = []
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'upgrade') values.push(rawHeaders[i + 1]!)
  return values.join(', ')
}

/** A refusal written on the raw socket, which then ends; bytes the client sent after its handshake are never read. */
function refuse(
  socket: Duplex,
  p: Problem,
  headers: readonly string[] = [],
  context: Omit<HandshakeOutcome, 'status'> = {},
): HandshakeOutcome {
  answerOnSocket(socket, p, headers)
  // Read to the client's end and dropped: whatever it sent after the handshake goes nowhere.
  socket.resume()
  cutAfterGrace(socket)
  return { status: p.status, ...context }
}

function cutAfterGrace(socket: Duplex): void {
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref()
}

/** The upstream's 101 as it sent it, with gatehouse's response headers and the `bearer` subprotocol when the upstream chose none. */
function switchingProtocols(res: IncomingMessage, bearerOffered: boolean, extra: readonly string[]): string {
  const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`]
  const raw = res.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`)
  // The client offered `bearer, <credential>`: a browser fails the handshake unless one offered subprotocol is chosen.
  if (bearerOffered && res.headers['sec-websocket-protocol'] === undefined) lines.push(`sec-websocket-protocol: ${BEARER_SUBPROTOCOL}`)
  for (let i = 0; i + 1 < extra.length; i += 2) lines.push(`${extra[i]}: ${extra[i + 1]}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** An upstream answer other than 101, relayed as an ordinary response; the connection ends with it and is never a tunnel. */
function relayResponse(
  res: IncomingMessage,
  client: Duplex,
  extra: readonly string[],
  context: Omit<HandshakeOutcome, 'status'>,
): Promise<HandshakeOutcome> {
  const status = res.statusCode ?? 502
  const lines = [`HTTP/1.1 ${status} ${res.statusMessage ?? ''}`]
  const raw = res.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP_BY_HOP_RESPONSE.has(raw[i]!.toLowerCase())) lines.push(`${raw[i]}: ${raw[i + 1]}`)
  }
  for (let i = 0; i + 1 < extra.length; i += 2) lines.push(`${extra[i]}: ${extra[i + 1]}`)
  // Without a Content-Length the body is delimited by the end of the connection, which comes anyway.
  lines.push('connection: close')
  return new Promise((resolve) => {
    const done = (error?: string) => {
      cutAfterGrace(client)
      resolve({ status, ...context, ...(error && { error }) })
    }
    if (client.destroyed) {
      res.destroy()
      return done('client-closed')
    }
    client.write(`${lines.join('\r\n')}\r\n\r\n`)
    res.pipe(client)
    res.once('end', () => done())
    res.once('error', () => {
      client.destroy()
      done('upstream')
    })
  })
}
