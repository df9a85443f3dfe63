import autocannon from 'autocannon'
import type { Options, Request } from 'autocannon'
import { rotation } from './tokens.ts'

export type LoadSpec = {
  origin: string
  path: string
  method?: 'GET' | 'POST'
  connections: number
  /** Either a fixed duration, or a fixed number of requests (bounded by `maxSeconds`). */
  durationS?: number
  amount?: number
  maxSeconds?: number
  headers?: Record<string, string>
  body?: Buffer
  /** A credential per request (distinct tokens or API keys in rotation); without it, requests are built once. */
  nextToken?: () => string
  /** How `nextToken`'s credential is sent: `Authorization: Bearer …` (the default) or `X-Api-Key: …`. */
  tokenHeader?: 'authorization' | 'x-api-key'
  /**
   * At most this many requests a second over all connections (autocannon's overallRate): a row
   * measured at the rate another row reached, so that the two differ in their work and not in how
   * busy the machine is. Without it, every connection sends its next request as soon as it can.
   */
  ratePerSecond?: number
}

export type LoadResult = {
  responses: number
  /** Socket errors and timeouts. */
  errors: number
  statusCounts: Record<string, number>
  /** Every response's latency in ms, ascending. */
  latenciesMs: Float64Array
}

/**
 * Drives one autocannon run. Latency is collected from each response event (float ms from
 * hrtime) rather than autocannon's histogram, which rounds to whole milliseconds — too coarse for
 * a loopback proxy whose p50 is about a millisecond.
 */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = []
  const statusCounts: Record<string, number> = {}
  const options: Options = {
    url: spec.origin + spec.path,
    method: spec.method ?? 'GET',
    connections: spec.connections,
    headers: spec.headers,
    body: spec.body,
    timeout: 30,
  }
  if (spec.amount !== undefined) options.amount = spec.amount
  else options.duration = spec.durationS ?? 1
  if (spec.ratePerSecond !== undefined) options.overallRate = spec.ratePerSecond
  if (spec.nextToken) {
    const nextToken = spec.nextToken
    const credential = credentialHeader(spec.tokenHeader ?? 'authorization')
    const setupRequest = (request: Request): Request => ({
      ...request,
      headers: { ...request.headers, ...credential(nextToken()) },
    })
    options.requests = [{ setupRequest }]
  }

  return new Promise((resolve, reject) => {
    let guard: NodeJS.Timeout | undefined
    const instance = autocannon(options, (error, result) => {
      clearTimeout(guard)
      if (error) return reject(error instanceof Error ? error : new Error(String(error)))
      resolve({
        responses: latencies.length,
        errors: result.errors,
        statusCounts,
        latenciesMs: Float64Array.from(latencies).sort(),
      })
    })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime)
      statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1
    })
    if (spec.maxSeconds !== undefined) guard = setTimeout(() => instance.stop(), spec.maxSeconds * 1000)
  })
}

/** The header that carries one credential. */
export function credentialHeader(header: 'authorization' | 'x-api-key'): (credential: string) => Record<string, string> {
  return header === 'authorization'
    ? (credential) => ({ authorization: `Bearer ${credential}` })
    : (credential) => ({ 'x-api-key': credential })
}

/** The value at quantile `q` (0–1) of an ascending list, nearest rank; NaN when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil(q * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** Sends one request per token, each token once: fills a token cache without measuring anything. */
export function sendEachOnce(origin: string, path: string, tokens: readonly string[], connections: number): Promise<LoadResult> {
  return runLoad({ origin, path, connections, amount: tokens.length, maxSeconds: 300, nextToken: rotation(tokens) })
}
