import type { IncomingMessage, ServerResponse } from 'node:http'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { problems, sendProblem } from '../http/index.ts'

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
  /** Headers gatehouse adds to the response (rate-limit state, request id). */
  responseHeaders?: Readonly<Record<string, string>>
}

/** How a forward ended, for the access log. */
export type ForwardOutcome = { status: number; error?: 'connect' | 'timeout' | 'upstream' | 'client-closed' }

export type UpstreamProxy = {
  forward(req: IncomingMessage, res: ServerResponse, request: ForwardRequest): Promise<ForwardOutcome>
  close(): Promise<void>
}

// Connection-scoped response headers are the proxy's own business on each hop (RFC 9110 §7.6.1).
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

/**
 * Streams requests to one upstream origin through a keep-alive pool and the response straight
 * into Node's ServerResponse: no body is ever buffered, and backpressure holds both ways.
 */
export function createUpstreamProxy(options: UpstreamOptions): UpstreamProxy {
  const basePath = options.url.pathname.replace(/\/$/, '')
  const pool = new Pool(options.url.origin, {
    connections: options.connections,
    connectTimeout: options.connectTimeoutMs,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.bodyTimeoutMs,
    keepAliveTimeout: 4_000,
  })

  function forward(req: IncomingMessage, res: ServerResponse, request: ForwardRequest): Promise<ForwardOutcome> {
    const abort = new AbortController()
    const onClose = () => {
      if (!res.writableFinished) abort.abort()
    }
    res.once('close', onClose)
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0'
    return pool
      .stream(
        {
          path: basePath + request.path,
          method: req.method as Dispatcher.HttpMethod,
          headers: request.headers,
          body: hasBody ? req : null,
          signal: abort.signal,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, responseHeaders(headers, request.responseHeaders))
          return res
        },
      )
      .then(
        (): ForwardOutcome => ({ status: res.statusCode }),
        (err: unknown): ForwardOutcome => {
          if (abort.signal.aborted || res.destroyed) {
            if (!res.destroyed) res.destroy()
            return { status: 499, error: 'client-closed' }
          }
          const failure = classify(err)
          sendProblem(res, failure.problem, request.responseHeaders)
          return { status: failure.problem.status, error: failure.error }
        },
      )
      .finally(() => res.off('close', onClose))
  }

  return { forward, close: () => pool.close() }
}

function responseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  extra: Readonly<Record<string, string>> | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in upstream) {
    const value = upstream[name]
    if (value !== undefined && !HOP_BY_HOP_RESPONSE.has(name)) out[name] = value
  }
  if (extra) Object.assign(out, extra)
  return out
}

function classify(err: unknown) {
  const code = (err as { code?: string } | null)?.code
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
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
