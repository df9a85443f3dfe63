import type { IncomingMessage, ServerResponse } from 'node:http'
import { problems, sendProblem } from '../http/index.ts'
import { createUpstreamPool } from './upstream-pool.ts'
import type { Exchange, ExchangeHandler } from './upstream-pool.ts'

export type UpstreamOptions = {
  url: URL
  timeoutMs: number
  connectTimeoutMs: number
  bodyTimeoutMs: number
  connections: number
}

export type ForwardRequest = {
  /** Canonical path plus the raw query. */
  path: string
  /** Flat [name, value, ...] list, already filtered and with gatehouse's own headers added. */
  headers: string[]
  /** Whether the request has a body to stream on (chunked, or a Content-Length other than 0). */
  body: boolean
  /** Headers gatehouse adds to the response (rate-limit state, request id), as a flat list. */
  responseHeaders: readonly string[]
}

/** How a forward ended, for the access log. */
export type ForwardOutcome = { status: number; error?: 'connect' | 'timeout' | 'upstream' | 'client-closed' }

export type UpstreamProxy = {
  forward(req: IncomingMessage, res: ServerResponse, request: ForwardRequest): Promise<ForwardOutcome>
  close(): Promise<void>
}

/**
 * Streams requests to one upstream origin through a keep-alive pool (src/forward/upstream-pool.ts)
 * and each response straight into Node's ServerResponse: no body is ever buffered, and
 * backpressure holds both ways. gatehouse's own HTTP/1.1 client rather than undici's: undici
 * validates and lowercases every header of every request again (about 30,000 instructions of a
 * jwt-hot request, a third of them in one regular expression over the 660-character assertion),
 * where the inbound ones were already checked by Node's parser and gatehouse built the others.
 */
export function createUpstreamProxy(options: UpstreamOptions): UpstreamProxy {
  const basePath = options.url.pathname.replace(/\/$/, '')
  const pool = createUpstreamPool({
    url: options.url,
    connections: options.connections,
    connectTimeoutMs: options.connectTimeoutMs,
    headersTimeoutMs: options.timeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs,
    keepAliveTimeoutMs: 4_000,
  })

  function forward(req: IncomingMessage, res: ServerResponse, request: ForwardRequest): Promise<ForwardOutcome> {
    return new Promise((resolve) => {
      const writer = new ResponseWriter(res, request.responseHeaders, resolve)
      writer.exchange = pool.request(
        { method: req.method ?? 'GET', path: basePath + request.path, headers: request.headers, body: request.body ? req : null },
        writer,
      )
      // The client went away while the request was decided.
      if (res.destroyed) writer.exchange.abort(new Error('client closed the connection'))
    })
  }

  return { forward, close: () => pool.close() }
}

// Connection-scoped response headers are the proxy's own business on each hop (RFC 9110 §7.6.1).
const HOP_BY_HOP_RESPONSE: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
])
const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP_RESPONSE].map((name) => name.length))

/** Folds only names of a hop-by-hop name's length: Content-Type, Content-Length and Date are never lowercased. */
function isHopByHop(name: string): boolean {
  return HOP_BY_HOP_LENGTHS.has(name.length) && HOP_BY_HOP_RESPONSE.has(name.toLowerCase())
}

/** Writes one upstream response into Node's response, honouring backpressure and client aborts. */
class ResponseWriter implements ExchangeHandler {
  exchange: Exchange | undefined
  private settled = false

  constructor(
    private readonly res: ServerResponse,
    private readonly extraHeaders: readonly string[],
    private readonly done: (outcome: ForwardOutcome) => void,
  ) {
    // `on`, not `once`, and never removed: the response closes once, and after the exchange settled
    // the listener does nothing; a once-wrapper and a removal per request cost more than that.
    res.on('close', this.onClientClose)
  }

  // Also when gatehouse itself answered (a body that timed out): the upstream exchange still
  // under way would otherwise wait for the rest of a body that is never coming.
  private readonly onClientClose = () => {
    if (!this.settled) this.exchange?.abort(new Error('client closed the connection'))
  }

  private readonly resume = () => this.exchange?.resume()

  onHead(statusCode: number, upstreamHeaders: string[]): void {
    // The gateway already answered (the request body timed out): the upstream's answer has no taker.
    if (this.res.headersSent) return this.exchange?.abort(new Error('the client was already answered'))
    const headers: string[] = []
    for (let i = 0; i + 1 < upstreamHeaders.length; i += 2) {
      const name = upstreamHeaders[i]!
      if (!isHopByHop(name)) headers.push(name, upstreamHeaders[i + 1]!)
    }
    for (const value of this.extraHeaders) headers.push(value)
    this.res.writeHead(statusCode, headers)
  }

  // Listened for only when the client falls behind: nothing more is read from the upstream until `resume`.
  onBody(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true
    this.res.once('drain', this.resume)
    return false
  }

  onEnd(): void {
    this.res.end()
    this.finish({ status: this.res.statusCode })
  }

  onError(err: Error): void {
    if (this.res.destroyed || (this.res.headersSent && this.res.writableEnded)) {
      this.finish({ status: 499, error: 'client-closed' })
      return
    }
    if (this.res.headersSent) {
      // The status is gone; cutting the connection is the only way to say the body is incomplete.
      this.res.destroy()
      this.finish({ status: this.res.statusCode, error: 'upstream' })
      return
    }
    const failure = classify(err)
    sendProblem(this.res, failure.problem, this.extraHeaders)
    this.finish({ status: failure.problem.status, error: failure.error })
  }

  private finish(outcome: ForwardOutcome): void {
    if (this.settled) return
    this.settled = true
    this.done(outcome)
  }
}

function classify(err: unknown) {
  const code = (err as { code?: string } | null)?.code
  switch (code) {
    case 'UPSTREAM_HEADERS_TIMEOUT':
    case 'UPSTREAM_CONNECT_TIMEOUT':
      return { error: 'timeout' as const, problem: problems.gatewayTimeout('The upstream did not answer in time') }
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ECONNRESET':
      return { error: 'connect' as const, problem: problems.badGateway('The upstream could not be reached') }
    default:
      return { error: 'upstream' as const, problem: problems.badGateway('The upstream failed to answer') }
  }
}
