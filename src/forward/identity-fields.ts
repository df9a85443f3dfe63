import type { Allow } from '../decide/index.ts'
import type { Identity } from '../identity/index.ts'
import type { AssertionSigner } from './assertion.ts'
import { createIdentityHeaders } from './identity-headers.ts'

export type IdentityFieldsOptions = { identityPrefix: string; assertionHeader: string; signer: AssertionSigner }

/**
 * What tells the upstream who an allowed request is from: the identity headers and the signed
 * assertion, as a flat [name, value, ...] list (empty for an anonymous request). The proxy sends
 * them upstream itself; forward-auth answers them for the ingress to copy. `method` is the
 * request's own method, which a bound assertion (`htm`) names.
 */
/** The identity headers and the assertion for an allowed request, as a flat [name, value, ...] list. */
export type IdentityFields = (allowed: Allow, method: string) => string[]

export function createIdentityFields(options: IdentityFieldsOptions): IdentityFields {
  const { assertionHeader, signer } = options
  const identityHeaders = createIdentityHeaders(options.identityPrefix)
  // A cached credential's identity is deeply frozen and shared by every request carrying the
  // credential, so its headers are built (and their values encoded) once and forgotten with it.
  // A request's own copy (one with an active org) is built each time.
  const sharedHeaders = new WeakMap<Identity, readonly string[]>()
  const headersOf = (identity: Identity, shared: boolean): readonly string[] => {
    let headers = shared ? sharedHeaders.get(identity) : undefined
    if (headers === undefined) {
      headers = identityHeaders(identity)
      if (shared) sharedHeaders.set(identity, headers)
    }
    return headers
  }
  return (allowed, method) => {
    const { identity, target, forwarded } = allowed
    if (!identity) return []
    const fields = headersOf(identity, identity === allowed.authenticated && Object.isFrozen(identity)).slice()
    fields.push(
      assertionHeader,
      signer.bindsRequests
        ? signer.signBound(identity, { method, path: target.path + target.query, requestId: forwarded.requestId })
        : signer.sign(identity, allowed.authenticated),
    )
    return fields
  }
}
