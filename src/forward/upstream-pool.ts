import { connect as connectTcp, isIP } from 'node:net'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { connect as connectTls } from 'node:tls'
import { socketAddressOf } from './reachability.ts'
import { ResponseParser } from './response-parser.ts'
import type { ResponseEvents } from './response-parser.ts'

export type UpstreamPoolOptions = {
  /** The upstream's origin (`http:` or `https:`); its path is the caller's business. */
  url: URL
  /** The most connections open at once; requests beyond them wait for one to be free. */
  connections: number
  connectTimeoutMs: number
  /** From the request's dispatch (a wait for a free connection included) until the response head. */
  headersTimeoutMs: number
  /** The longest silence from the upstream while its response body is under way. */
  bodyTimeoutMs: number
  /** How long a connection is kept idle for the next request. */
  keepAliveTimeoutMs: number
}

export type UpstreamRequest = {
  method: string
  /** The origin-form target the upstream receives. */
  path: string
  /**
   * Flat [name, value, ...]. Written as they are: each value must already be a valid field value
   * (the inbound ones as Node's parser accepted them, gatehouse's own built to be). A
   * Content-Length among them frames the body and is written after the others.
   */
  headers: readonly string[]
  /** Streamed as it arrives: framed by its Content-Length, or chunked without one. */
  body: Readable | null
}

/** Told what became of one request. After `onEnd` or `onError`, nothing more. */
export type ExchangeHandler = {
  onHead(status: number, headers: string[]): void
  /** False: the handler cannot take more now; nothing is read from the upstream until `resume`. */
  onBody(chunk: Buffer): boolean
  onEnd(): void
  onError(err: Error): void
}

export type Exchange = {
  /** Ends the exchange with `err` (told to `onError`) and closes its connection. */
  abort(err: Error): void
  resume(): void
}

export type UpstreamErrorCode = 'UPSTREAM_CONNECT_TIMEOUT' | 'UPSTREAM_HEADERS_TIMEOUT' | 'UPSTREAM_BODY_TIMEOUT' | 'UPSTREAM_CLOSED'

/** A failure of the exchange itself; the socket's own errors (ECONNREFUSED, ECONNRESET) pass as they are. */
export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export type UpstreamPool = {
  request(request: UpstreamRequest, handler: ExchangeHandler): Exchange
  /** Closes idle connections at once and the others as their exchanges end. */
  close(): Promise<void>
}

// Methods whose request carries a body by definition: an empty one is still announced (undici's rule).
const EXPECTS_PAYLOAD: ReadonlySet<string> = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])
// undici's check of a request target: no control characters, no space, nothing beyond Latin-1.
const INVALID_PATH = /[^\u0021-\u00ff]/

/**
 * HTTP/1.1 to one upstream origin over keep-alive connections: each request written as one head
 * string and its body streamed, each response parsed strictly (src/forward/response-parser.ts)
 * and streamed to its handler with backpressure both ways. One request per connection at a time
 * (no pipelining). Deadlines are checked by one sweep for the whole pool, rather than a timer per
 * request: at most a quarter of the shortest deadline, and at most a second, late.
 */
export function createUpstreamPool(options: UpstreamPoolOptions): UpstreamPool {
  const { url, connections: maxConnections } = options
  const secure = url.protocol === 'https:'
  const { host: hostname, port } = socketAddressOf(url)
  const preamble = `host: ${url.host}\r\nconnection: keep-alive\r\n`
  const idle: Connection[] = []
  const open = new Set<Connection>()
  const waiting: ActiveExchange[] = []
  let sweep: NodeJS.Timeout | undefined
  let closed: (() => void) | undefined
  const sweepEveryMs = Math.min(
    1000,
    Math.max(10, Math.min(options.connectTimeoutMs, options.headersTimeoutMs, options.bodyTimeoutMs, options.keepAliveTimeoutMs) / 4),
  )

  class Connection {
    exchange: ActiveExchange | undefined
    connected = false
    /** When it began to connect, or last became idle. */
    since = performance.now()
    readonly socket: Socket

    constructor() {
      this.socket = secure
        ? connectTls({ host: hostname, port, servername: isIP(hostname) === 0 ? hostname : undefined, ALPNProtocols: ['http/1.1'] })
        : connectTcp({ host: hostname, port })
      this.socket.setNoDelay(true)
      this.socket.once(secure ? 'secureConnect' : 'connect', this.onConnect)
      this.socket.on('data', this.onData)
      this.socket.on('end', this.onEnd)
      this.socket.on('error', this.onError)
      this.socket.once('close', this.onClose)
      open.add(this)
    }

    start(exchange: ActiveExchange): void {
      this.exchange = exchange
      exchange.connection = this
      if (this.connected) exchange.send()
    }

    destroy(): void {
      this.socket.destroy()
      this.forget()
    }

    private forget(): void {
      if (!open.delete(this)) return
      const at = idle.indexOf(this)
      if (at >= 0) idle.splice(at, 1)
      // A request waiting for a free connection gets one in place of this one.
      if (waiting.length > 0 && !closed) new Connection().start(waiting.shift()!)
      if (closed && open.size === 0) closed()
    }

    private readonly onConnect = () => {
      this.connected = true
      this.exchange?.send()
    }

    private readonly onData = (chunk: Buffer) => {
      const exchange = this.exchange
      // Bytes nobody asked for would be read as the next request's response.
      if (!exchange) return this.destroy()
      exchange.received(chunk)
    }

    private readonly onEnd = () => {
      const exchange = this.exchange
      if (exchange) exchange.upstreamEnded()
      else this.destroy()
    }

    private readonly onError = (err: Error) => {
      this.exchange?.fail(err)
      this.forget()
    }

    private readonly onClose = () => {
      this.exchange?.fail(new UpstreamError('UPSTREAM_CLOSED', 'the upstream closed the connection'))
      this.forget()
    }

    /** The exchange ended: the connection takes the next request, waits for one, or closes. */
    release(reusable: boolean): void {
      this.exchange = undefined
      if (!reusable || closed) return this.destroy()
      // The last chunk of the response may have paused the socket for a slow client.
      if (this.socket.isPaused()) this.socket.resume()
      const next = waiting.shift()
      if (next) return this.start(next)
      this.since = performance.now()
      idle.push(this)
    }

    /** Called by the sweep; `now` from performance.now(). */
    check(now: number): void {
      // A connection is opened for an exchange, and closed if that one fails: without one, it is idle.
      if (this.exchange) this.exchange.check(now)
      else if (now - this.since > options.keepAliveTimeoutMs) this.destroy()
    }
  }

  class ActiveExchange implements Exchange, ResponseEvents {
    connection: Connection | undefined
    private readonly started = performance.now()
    private lastRead = 0
    private readonly parser: ResponseParser
    private settled = false
    private ended = false
    private reusable = false
    private bodySent: boolean

    constructor(
      private readonly request: UpstreamRequest,
      private readonly handler: ExchangeHandler,
    ) {
      this.parser = new ResponseParser(this, request.method === 'HEAD')
      this.bodySent = request.body === null
    }

    send(): void {
      const { request } = this
      const socket = this.connection!.socket
      let head = `${request.method} ${request.path} HTTP/1.1\r\n${preamble}`
      let contentLength: string | undefined
      const { headers } = request
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const name = headers[i]!
        if (name.length === 14 && name.toLowerCase() === 'content-length') contentLength = headers[i + 1]
        else head += `${name}: ${headers[i + 1]}\r\n`
      }
      const body = request.body
      if (body) head += contentLength === undefined ? 'transfer-encoding: chunked\r\n' : `content-length: ${contentLength}\r\n`
      else if (contentLength === '0' && EXPECTS_PAYLOAD.has(request.method)) head += 'content-length: 0\r\n'
      socket.write(`${head}\r\n`, 'latin1')
      if (body) this.sendBody(socket, body, contentLength === undefined)
    }

    private sendBody(socket: Socket, body: Readable, chunked: boolean): void {
      const onData = (chunk: Buffer) => {
        if (this.settled) return
        let flushed
        if (chunked) {
          socket.cork()
          socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
          socket.write(chunk)
          flushed = socket.write('\r\n', 'latin1')
          socket.uncork()
        } else flushed = socket.write(chunk)
        if (!flushed) {
          body.pause()
          socket.once('drain', () => body.resume())
        }
      }
      const onEnd = () => {
        detach()
        if (this.settled) return
        if (chunked) socket.write('0\r\n\r\n', 'latin1')
        this.bodySent = true
      }
      const onClose = () => {
        detach()
        if (!this.bodySent) this.fail(new UpstreamError('UPSTREAM_CLOSED', 'the request body was cut short'))
      }
      const detach = () => {
        body.off('data', onData)
        body.off('end', onEnd)
        body.off('close', onClose)
      }
      body.on('data', onData)
      body.once('end', onEnd)
      body.once('close', onClose)
    }

    received(chunk: Buffer): void {
      this.lastRead = performance.now()
      try {
        this.parser.feed(chunk)
      } catch (err) {
        // After the response's end, stray bytes only make the connection unusable.
        if (this.ended) this.connection?.destroy()
        else this.fail(err as Error)
        return
      }
      if (this.ended) this.finish()
    }

    upstreamEnded(): void {
      try {
        this.parser.close()
      } catch (err) {
        return this.fail(err as Error)
      }
      this.finish()
    }

    onHead(status: number, headers: string[]): void {
      this.handler.onHead(status, headers)
    }

    onBody(chunk: Buffer): void {
      if (!this.settled && !this.handler.onBody(chunk)) this.connection?.socket.pause()
    }

    onEnd(reusable: boolean): void {
      this.ended = true
      this.reusable = reusable
    }

    private finish(): void {
      if (this.settled) return
      this.settled = true
      // An answer before the whole body was sent (a 413, say) leaves the connection mid-request;
      // after HEAD, a misbehaving upstream may still send a body (undici's rule too).
      this.connection!.release(this.reusable && this.bodySent && this.request.method !== 'HEAD')
      this.handler.onEnd()
    }

    fail(err: Error): void {
      if (this.settled) return
      this.settled = true
      const at = waiting.indexOf(this)
      if (at >= 0) waiting.splice(at, 1)
      const connection = this.connection
      if (connection) {
        connection.exchange = undefined
        connection.destroy()
      }
      this.handler.onError(err)
    }

    abort(err: Error): void {
      this.fail(err)
    }

    resume(): void {
      this.connection?.socket.resume()
    }

    /** Called by the sweep, also while the exchange waits for a free connection (only the headers deadline runs then). */
    check(now: number): void {
      const connection = this.connection
      if (connection && !connection.connected && now - connection.since > options.connectTimeoutMs) {
        this.fail(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', 'the upstream did not accept the connection in time'))
      } else if (!this.parser.headParsed && now - this.started > options.headersTimeoutMs) {
        this.fail(new UpstreamError('UPSTREAM_HEADERS_TIMEOUT', 'the upstream did not answer in time'))
      } else if (this.parser.headParsed && now - this.lastRead > options.bodyTimeoutMs) {
        this.fail(new UpstreamError('UPSTREAM_BODY_TIMEOUT', 'the upstream stopped sending its response body'))
      }
    }
  }

  function checkAll(): void {
    const now = performance.now()
    for (const connection of [...open]) connection.check(now)
    for (const exchange of [...waiting]) exchange.check(now)
    if (open.size === 0 && waiting.length === 0 && sweep) {
      clearInterval(sweep)
      sweep = undefined
    }
  }

  function request(request: UpstreamRequest, handler: ExchangeHandler): Exchange {
    const exchange = new ActiveExchange(request, handler)
    if (INVALID_PATH.test(request.path) || closed) {
      queueMicrotask(() => exchange.fail(new Error(closed ? 'the upstream pool is closed' : 'the request target is not valid')))
      return exchange
    }
    if (!sweep) {
      sweep = setInterval(checkAll, sweepEveryMs)
      sweep.unref()
    }
    const connection = idle.pop()
    if (connection) connection.start(exchange)
    else if (open.size < maxConnections) new Connection().start(exchange)
    else waiting.push(exchange)
    return exchange
  }

  function close(): Promise<void> {
    return new Promise((resolve) => {
      closed = () => {
        if (sweep) clearInterval(sweep)
        resolve()
      }
      for (const connection of [...idle]) connection.destroy()
      for (const exchange of waiting.splice(0)) exchange.fail(new Error('the upstream pool is closed'))
      if (open.size === 0) closed()
    })
  }

  return { request, close }
}
