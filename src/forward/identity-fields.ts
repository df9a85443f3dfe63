import { createSecondUseMap } from '../cache/index.ts'
import type { Allow } from '../decide/index.ts'
import type { Identity } from '../identity/index.ts'
import type { AssertionSigner } from './assertion.ts'
import { createIdentityHeaders } from './identity-headers.ts'

export type IdentityFieldsOptions = { identityPrefix: string; assertionHeader: string; signer: AssertionSigner }

/**
 * What tells the upstream who an allowed request is from: the identity headers and the signed
 * assertion, as a flat [name, value, ...] list of the request's own (empty for an anonymous
 * request). The proxy sends them upstream itself; forward-auth answers them for the ingress to
 * copy. `method` is the request's own method, which a bound assertion (`htm`) names.
 */
export type IdentityFields = (allowed: Allow, method: string) => string[]

export function createIdentityFields(options: IdentityFieldsOptions): IdentityFields {
  const { assertionHeader, signer } = options
  const identityHeaders = createIdentityHeaders(options.identityPrefix)
  // A cached credential's identity is deeply frozen and shared by every request carrying the
  // credential, so its headers are built (and their values encoded) once and forgotten with it.
  // They are kept from the identity's second request on, as assertions are: a cache full of
  // one-time callers (a script, a webhook) would otherwise hold a list per caller, a quarter of a
  // kilobyte each (25 MB at 100,000), that no request ever reads again. A request's own copy (one
  // with an active org) is built each time.
  const sharedHeaders = createSecondUseMap<Identity, readonly string[]>()
  // Always a list of the request's own, which the caller extends.
  const headersOf = (identity: Identity, shared: boolean): string[] => {
    const kept = shared ? sharedHeaders.get(identity) : undefined
    if (kept) return kept.slice()
    const headers = identityHeaders(identity)
    // An exact-length copy: the list grew by pushes and has room for twice its entries.
    if (shared) sharedHeaders.offer(identity, () => headers.slice())
    return headers
  }
  return (allowed, method) => {
    const { identity, target, forwarded } = allowed
    if (!identity) return []
    const fields = headersOf(identity, identity === allowed.authenticated && Object.isFrozen(identity))
    fields.push(
      assertionHeader,
      signer.bindsRequests
        ? signer.signBound(identity, { method, path: target.path + target.query, requestId: forwarded.requestId })
        : signer.sign(identity, allowed.authenticated),
    )
    return fields
  }
}
