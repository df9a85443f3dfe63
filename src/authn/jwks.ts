import { singleFlight } from './single-flight.ts'
import { createLocalJWKSet, errors } from 'jose'
import type { CryptoKey, FlattenedJWSInput, JSONWebKeySet, JWK, JWSHeaderParameters, LocalJWKSet } from 'jose'
import { InvalidTokenError, KeySourceUnavailableError } from './errors.ts'
import type { Metrics } from '../metrics/index.ts'
import { isRecord } from './json.ts'

export type JwksSourceOptions = {
  url: URL | string
  cooldownMs: number
  refreshMs: number
  timeoutMs: number
  fetch?: typeof fetch
  /** Told of every failed fetch (the source itself never throws in the background). */
  onError?: (error: KeySourceUnavailableError) => void
  metrics?: Metrics
}

export type JwksSource = {
  /**
   * A jose key function: resolves the key for a token's header, refetching once per cooldown on an
   * unknown kid. An unknown kid is InvalidTokenError (401) only when a fetch ran for this lookup;
   * within the cooldown it is KeySourceUnavailableError (503 with Retry-After), because a key
   * rotated in since the last fetch cannot be told from a kid that does not exist.
   */
  getKey(protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey>
  /** Fetches now (sharing a fetch already under way); on failure the previous keys stay in use. */
  refresh(): Promise<void>
  /** Whether keys have been fetched at least once. */
  ready(): boolean
  /** Why the last fetch failed, for /readyz and logs (never the URL's query); undefined after a success. */
  lastError(): string | undefined
  readonly url: URL
  close(): void
}

// A key set is a few kilobytes; a body far larger than that is a wrong URL, not keys worth parsing.
const MAX_JWKS_BYTES = 1 << 20
// A tiny refresh period would turn the timer into a fetch loop against the identity provider, and
// setInterval fires at once when the delay does not fit in 32 bits.
const MIN_REFRESH_MS = 1000
const MAX_TIMER_MS = 2 ** 31 - 1

export function createJwksSource(options: JwksSourceOptions): JwksSource {
  const url = new URL(options.url)
  // The URL may carry credentials in its query; logs name only where it points.
  const where = `${url.origin}${url.pathname}`
  const fetchImpl = options.fetch ?? fetch
  const closing = new AbortController()
  let keys: LocalJWKSet | undefined
  let knownKids = new Set<string>()
  let lastAttemptAt = -Infinity
  let lastAttemptFailed = false
  let lastError: string | undefined
  const fetching = singleFlight(load)

  async function load(): Promise<void> {
    lastAttemptAt = performance.now()
    try {
      const keySet = await fetchKeySet(url, fetchImpl, options.timeoutMs, closing.signal)
      keys = createLocalJWKSet(keySet)
      knownKids = new Set(keySet.keys.flatMap((jwk) => (typeof jwk.kid === 'string' ? [jwk.kid] : [])))
      lastAttemptFailed = false
      lastError = undefined
      options.metrics?.keyFetch('jwks', true)
    } catch (error) {
      lastAttemptFailed = true
      const failure = new KeySourceUnavailableError(`fetching the JWKS at ${where} failed: ${describeError(error)}`)
      lastError = failure.reason
      if (!closing.signal.aborted) {
        options.metrics?.keyFetch('jwks', false)
        options.onError?.(failure)
      }
      throw failure
    }
  }

  /** Whether a fetch ran for this lookup: one it started, or one already under way when it came. */
  async function refetchForUnknownKey(): Promise<boolean> {
    const due = fetching.running() || performance.now() - lastAttemptAt >= options.cooldownMs
    if (due) await fetching.run().catch(() => undefined)
    return due
  }

  function secondsUntilRefetch(): number {
    return Math.max(1, Math.ceil((lastAttemptAt + options.cooldownMs - performance.now()) / 1000))
  }

  async function select(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey | undefined> {
    if (!keys) return undefined
    try {
      return await keys(header, token)
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) return undefined
      throw error
    }
  }

  async function getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    const known = await select(header, token)
    if (known) return known
    const kid = typeof header.kid === 'string' ? JSON.stringify(header.kid.slice(0, 64)) : 'none'
    // The kid names a key of another type than the token's alg: no refetch would change that.
    if (typeof header.kid === 'string' && knownKids.has(header.kid)) {
      throw new InvalidTokenError(`the key with kid ${kid} in the JWKS at ${where} does not fit the token's alg`)
    }
    const refetched = await refetchForUnknownKey()
    const fetched = await select(header, token)
    if (fetched) return fetched
    // Whether the kid is unknown or merely not fetched yet cannot be told while the JWKS is unreachable,
    if (lastAttemptFailed) {
      throw new KeySourceUnavailableError(`no key for kid ${kid} and the JWKS at ${where} cannot be fetched`, secondsUntilRefetch())
    }
    // nor while the cooldown holds a refetch off: the issuer may have published the key since the last fetch.
    if (!refetched) {
      throw new KeySourceUnavailableError(
        `no key for kid ${kid} in the JWKS at ${where} as last fetched, and the cooldown holds off a refetch`,
        secondsUntilRefetch(),
      )
    }
    throw new InvalidTokenError(`no key in the JWKS at ${where} matches kid ${kid}`)
  }

  const timer = setInterval(
    () => void fetching.run().catch(() => undefined),
    Math.min(Math.max(options.refreshMs, MIN_REFRESH_MS), MAX_TIMER_MS),
  )
  timer.unref()
  void fetching.run().catch(() => undefined)

  return {
    getKey,
    refresh: fetching.run,
    ready: () => keys !== undefined,
    lastError: () => lastError,
    url,
    close() {
      clearInterval(timer)
      closing.abort()
    },
  }
}

async function fetchKeySet(url: URL, fetchImpl: typeof fetch, timeoutMs: number, closing: AbortSignal): Promise<JSONWebKeySet> {
  return toKeySet((await fetchJson(url, fetchImpl, timeoutMs, MAX_JWKS_BYTES, closing)).json)
}

/**
 * GETs a JSON document from an identity provider: no redirects (the configured URL is the trust
 * anchor; a redirect could lead anywhere, plain http included), bounded in time and size. Any status
 * but 200 (and those in `allowStatus`, answered without a body) is an error.
 */
export async function fetchJson(
  url: URL,
  fetchImpl: typeof fetch,
  timeoutMs: number,
  maxBytes: number,
  signal: AbortSignal | undefined,
  options: { allowStatus?: readonly number[] } = {},
): Promise<{ status: number; json: unknown }> {
  const timeout = AbortSignal.timeout(timeoutMs)
  const response = await fetchImpl(url, {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  })
  if (response.status !== 200) {
    await response.body?.cancel()
    if (options.allowStatus?.includes(response.status)) return { status: response.status, json: undefined }
    throw new Error(`HTTP ${response.status}`)
  }
  return { status: 200, json: JSON.parse(await readLimited(response, maxBytes)) }
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (declared > maxBytes) {
    await response.body?.cancel()
    throw new Error(`the response is larger than ${maxBytes} bytes`)
  }
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body) {
    size += chunk.byteLength
    if (size > maxBytes) throw new Error(`the response is larger than ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Parses and filters a JWK Set as fetched: the public signing keys, or an error for a set without any. */
export function toKeySet(json: unknown): JSONWebKeySet {
  if (!isRecord(json) || !Array.isArray(json.keys)) throw new Error('the response is not a JWK Set')
  const keys = json.keys.filter(isPublicSigningKey)
  // An empty set would log every user out; keeping the previous keys is the safer reading of it.
  if (keys.length === 0) throw new Error('the JWK Set holds no public signing key')
  return { keys }
}

function isPublicSigningKey(jwk: unknown): jwk is JWK {
  return (
    isRecord(jwk) &&
    typeof jwk.kty === 'string' &&
    jwk.kty !== 'oct' &&
    !Object.hasOwn(jwk, 'd') &&
    (jwk.use === undefined || jwk.use === 'sig')
  )
}

/** An error and its causes in one line: undici's "fetch failed" says why only in its cause (ECONNREFUSED, …). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const causes: string[] = []
  for (let cause = error.cause; cause instanceof Error && causes.length < 3; cause = cause.cause) causes.push(cause.message)
  return causes.length > 0 ? `${error.message} (${causes.join(': ')})` : error.message
}
