import { singleFlight } from './single-flight.ts'
import type { FlattenedJWSInput, JWSHeaderParameters } from 'jose'
import { KeySourceUnavailableError } from './errors.ts'
import type { Metrics } from '../metrics/index.ts'
import { isRecord } from './json.ts'
import { createJwksSource, describeError, fetchJson } from './jwks.ts'
import type { JwksSource } from './jwks.ts'

/**
 * The discovery document's fields gatehouse reads. Only `issuer` and `jwks_uri` decide anything;
 * the algorithm list is reported by `gatehouse check --online` beside the pinned ones.
 */
export type DiscoveryDocument = {
  /** Where the document was found. */
  url: URL
  jwksUri: URL
  /** `id_token_signing_alg_values_supported`: what the provider says it signs ID tokens with. */
  signingAlgorithms: string[]
}

// A discovery document is a few kilobytes, like a key set.
const MAX_DOCUMENT_BYTES = 1 << 20

/**
 * OpenID Connect Discovery 1.0 §4: `{issuer}/.well-known/openid-configuration`; where that is not
 * found, RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted before the issuer's path.
 * The document's `issuer` must be the configured one exactly (§4.3, RFC 8414 §3.3): a document that
 * names another issuer would let that issuer's keys sign tokens accepted as this one's.
 */
export async function fetchDiscovery(
  issuer: string,
  base: URL,
  fetchImpl: typeof fetch,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DiscoveryDocument> {
  const path = base.pathname.replace(/\/$/, '')
  const candidates = [
    new URL(`${base.origin}${path}/.well-known/openid-configuration`),
    new URL(`${base.origin}/.well-known/oauth-authorization-server${path}`),
  ]
  let notFound: string | undefined
  for (const url of candidates) {
    let answer
    try {
      answer = await fetchJson(url, fetchImpl, timeoutMs, MAX_DOCUMENT_BYTES, signal, { allowStatus: [404] })
    } catch (error) {
      throw new Error(`fetching ${where(url)} failed`, { cause: error })
    }
    if (answer.status === 404) {
      notFound = notFound ? `${notFound} and ${where(url)}` : where(url)
      continue
    }
    return readDocument(issuer, base, url, answer.json)
  }
  throw new Error(`no discovery document: HTTP 404 at ${notFound}`)
}

function readDocument(issuer: string, base: URL, url: URL, json: unknown): DiscoveryDocument {
  if (!isRecord(json)) throw new Error(`the document at ${where(url)} is not a JSON object`)
  if (json.issuer !== issuer) {
    const stated = typeof json.issuer === 'string' ? JSON.stringify(json.issuer.slice(0, 200)) : 'no issuer'
    throw new Error(`the document at ${where(url)} names ${stated}, not the configured issuer ${JSON.stringify(issuer)}`)
  }
  if (typeof json.jwks_uri !== 'string') throw new Error(`the document at ${where(url)} has no jwks_uri`)
  let jwksUri: URL
  try {
    jwksUri = new URL(json.jwks_uri)
  } catch {
    throw new Error(`the jwks_uri in the document at ${where(url)} is not a URL`)
  }
  // The keys must come over TLS unless the issuer itself is plain http (a loopback development provider).
  if (jwksUri.protocol !== 'https:' && !(jwksUri.protocol === 'http:' && base.protocol === 'http:')) {
    throw new Error(`the jwks_uri in the document at ${where(url)} is not an https URL`)
  }
  const algorithms = json.id_token_signing_alg_values_supported
  return {
    url,
    jwksUri,
    signingAlgorithms: Array.isArray(algorithms) ? algorithms.filter((a): a is string => typeof a === 'string') : [],
  }
}

function where(url: URL): string {
  return `${url.origin}${url.pathname}`
}

export type DiscoveredKeySourceOptions = {
  issuer: string
  base: URL
  cooldownMs: number
  refreshMs: number
  timeoutMs: number
  fetch?: typeof fetch
  onError?: (error: KeySourceUnavailableError) => void
  metrics?: Metrics
}

/** A key source: a JWKS, or one found through discovery. Both answer 503, never 401, while no keys can be had. */
export type KeySource = Pick<JwksSource, 'getKey' | 'ready' | 'close' | 'lastError'>

const MIN_REFRESH_MS = 1000
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Discovery, then the JWKS it names. The document is fetched at start and on the JWKS's refresh
 * period; a new `jwks_uri` replaces the key source (the old one's keys serve until the new one has
 * fetched). A failed refetch keeps the document and keys already in use. Until a first document
 * arrives, a token's key lookup waits for the fetch under way or starts one (once per cooldown), and
 * answers 503 with Retry-After while the provider cannot be reached.
 */
export function createDiscoveredKeySource(options: DiscoveredKeySourceOptions): KeySource {
  const fetchImpl = options.fetch ?? fetch
  const closing = new AbortController()
  let jwks: JwksSource | undefined
  let previous: JwksSource | undefined
  let error: string | undefined
  let lastAttemptAt = -Infinity
  const discovery = singleFlight(discover)

  async function discover(): Promise<void> {
    lastAttemptAt = performance.now()
    try {
      const document = await fetchDiscovery(options.issuer, options.base, fetchImpl, options.timeoutMs, closing.signal)
      error = undefined
      options.metrics?.keyFetch('discovery', true)
      if (jwks && jwks.url.href === document.jwksUri.href) return
      // While an earlier source still serves (the last new one never fetched), that one stays and the unfetched one goes.
      if (previous) jwks?.close()
      else previous = jwks
      jwks = createJwksSource({
        url: document.jwksUri,
        cooldownMs: options.cooldownMs,
        refreshMs: options.refreshMs,
        timeoutMs: options.timeoutMs,
        fetch: options.fetch,
        onError: options.onError,
        metrics: options.metrics,
      })
      await jwks.refresh().catch(() => undefined)
      retirePrevious()
    } catch (cause) {
      const failure = new KeySourceUnavailableError(`OpenID Connect discovery for ${options.issuer} failed: ${describeError(cause)}`)
      error = failure.reason
      if (!closing.signal.aborted) {
        options.metrics?.keyFetch('discovery', false)
        options.onError?.(failure)
      }
    }
  }

  // The key source of the jwks_uri before serves until the new one has keys, then stops.
  function retirePrevious(): void {
    if (!previous || !jwks?.ready()) return
    previous.close()
    previous = undefined
  }

  function secondsUntilRetry(): number {
    return Math.max(1, Math.ceil((lastAttemptAt + options.cooldownMs - performance.now()) / 1000))
  }

  async function current(): Promise<JwksSource> {
    retirePrevious()
    if (previous) return previous
    if (jwks) return jwks
    if (discovery.running() || performance.now() - lastAttemptAt >= options.cooldownMs) await discovery.run()
    if (jwks) return jwks
    throw new KeySourceUnavailableError(error ?? `OpenID Connect discovery for ${options.issuer} has not succeeded`, secondsUntilRetry())
  }

  const timer = setInterval(() => void discovery.run(), Math.min(Math.max(options.refreshMs, MIN_REFRESH_MS), MAX_TIMER_MS))
  timer.unref()
  void discovery.run()

  return {
    getKey: async (header: JWSHeaderParameters, token: FlattenedJWSInput) => (await current()).getKey(header, token),
    ready: () => jwks?.ready() === true || previous?.ready() === true,
    lastError: () => error ?? jwks?.lastError(),
    close() {
      clearInterval(timer)
      closing.abort()
      jwks?.close()
      previous?.close()
    },
  }
}
