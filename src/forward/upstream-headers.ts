import type { Allow } from '../decide/index.ts'
import { createInboundHeaderFilter } from '../http/index.ts'
import type { CompiledRoute } from '../rules/index.ts'
import type { AssertionSigner } from './assertion.ts'
import { createIdentityHeaders } from './identity-headers.ts'

export type UpstreamHeadersOptions = {
  identityPrefix: string
  assertionHeader: string
  /** `upstream.hide_credentials`: the consumed credential is not passed on unless a route says `pass_credentials`. */
  hideCredentials: boolean
  signer: AssertionSigner
}

export type UpstreamHeaders = {
  /**
   * The headers an allowed request reaches the upstream with, in Node's flat form: the inbound
   * ones filtered, the forwarding headers recomputed, the identity headers and the assertion.
   */
  build(rawHeaders: readonly string[], method: string, allowed: Allow): string[]
  /** Whether the caller's credential is removed from what this route's upstream receives. */
  hidesCredentials(route: CompiledRoute): boolean
}

/** Authorization and X-Api-Key: the header carriers of a credential. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key']

/** What every door that forwards (the proxy, the WebSocket tunnel) sends the upstream; built once per config. */
export function createUpstreamHeaders(options: UpstreamHeadersOptions): UpstreamHeaders {
  const { signer, assertionHeader } = options
  const policy = { identityPrefix: options.identityPrefix, assertionHeader }
  // Indexed [from a trusted proxy][hide credentials]: four filters built once, one picked per request.
  const headerFilters = [false, true].map((fromTrustedProxy) =>
    [false, true].map((hide) => createInboundHeaderFilter({ ...policy, fromTrustedProxy, alsoRemove: hide ? CREDENTIAL_HEADERS : [] })),
  )
  const identityHeaders = createIdentityHeaders(options.identityPrefix)
  const hidesCredentials = (route: CompiledRoute) => options.hideCredentials && !route.passCredentials

  function build(rawHeaders: readonly string[], method: string, allowed: Allow): string[] {
    const { route, target, identity, forwarded } = allowed
    const headers = headerFilters[forwarded.trusted ? 1 : 0]![hidesCredentials(route) ? 1 : 0]!(rawHeaders)
    headers.push('x-forwarded-proto', forwarded.proto, 'x-forwarded-port', forwarded.port, 'x-request-id', forwarded.requestId)
    if (forwarded.forwardedFor) headers.push('x-forwarded-for', forwarded.forwardedFor)
    if (forwarded.host) headers.push('x-forwarded-host', forwarded.host)
    if (identity) {
      headers.push(...identityHeaders(identity))
      headers.push(
        assertionHeader,
        signer.bindsRequests
          ? signer.signBound(identity, { method, path: target.path + target.query, requestId: forwarded.requestId })
          : signer.sign(identity, allowed.authenticated),
      )
    }
    return headers
  }

  return { build, hidesCredentials }
}
