import { discoveryBase } from '../config/index.ts'
import type { IssuerConfig } from '../config/index.ts'
import { fetchDiscovery } from './discovery.ts'
import { describeError, fetchJson, toKeySet } from './jwks.ts'

/** What `gatehouse check --online` found for one JWKS-backed or discovered issuer. */
export type IssuerProbe = {
  issuer: string
  /** Where the discovery document was found; absent for an issuer with jwks_url. */
  discoveryUrl?: string
  jwksUrl?: string
  keyCount?: number
  /** The `alg` of each fetched key that states one, and the discovery document's signing algorithms. */
  offered: string[]
  pinned: readonly string[]
  /** Why the issuer's keys could not be had; the probe stops at the first failure. */
  error?: string
}

const MAX_JWKS_BYTES = 1 << 20

/**
 * Fetches what the gateway would fetch at start — the discovery document, then the JWKS — once,
 * without starting anything. Never throws: a failure is the probe's `error`.
 */
export async function probeIssuer(issuer: IssuerConfig, options: { timeoutMs: number; fetch?: typeof fetch }): Promise<IssuerProbe> {
  const fetchImpl = options.fetch ?? fetch
  const probe: IssuerProbe = { issuer: issuer.issuer, offered: [], pinned: issuer.algorithms }
  const offered = new Set<string>()
  try {
    let jwksUrl = issuer.jwksUrl
    if (!jwksUrl) {
      const document = await fetchDiscovery(issuer.issuer, discoveryBase(issuer.issuer)!, fetchImpl, options.timeoutMs)
      probe.discoveryUrl = `${document.url.origin}${document.url.pathname}`
      for (const alg of document.signingAlgorithms) offered.add(alg)
      jwksUrl = document.jwksUri
    }
    // The URL may carry credentials in its query; only where it points is printed.
    probe.jwksUrl = `${jwksUrl.origin}${jwksUrl.pathname}`
    const keySet = toKeySet((await fetchJson(jwksUrl, fetchImpl, options.timeoutMs, MAX_JWKS_BYTES, undefined)).json)
    probe.keyCount = keySet.keys.length
    for (const key of keySet.keys) if (typeof key.alg === 'string') offered.add(key.alg)
  } catch (error) {
    probe.error = describeError(error)
  }
  probe.offered = [...offered]
  return probe
}
