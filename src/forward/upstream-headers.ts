import { withoutCookies } from '../authn/index.ts'
import type { Allow } from '../decide/index.ts'
import { createInboundHeaderFilter } from '../http/index.ts'
import type { CompiledRoute } from '../rules/index.ts'

export type UpstreamHeadersOptions = {
  identityPrefix: string
  assertionHeader: string
  /** `upstream.hide_credentials`: the consumed credential is not passed on unless a route says `pass_credentials`. */
  hideCredentials: boolean
  /** The identity headers and the assertion of an allowed request (`createIdentityFields`). */
  identityFields: (allowed: Allow, method: string) => string[]
  /**
   * `end_users.session.cookie`, when end users are enabled: a credential of gatehouse's own (a
   * local access token), hidden under hide_credentials on every route, whether it reads it or not.
   */
  sessionCookie?: string
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
  const { identityFields } = options
  const policy = { identityPrefix: options.identityPrefix, assertionHeader: options.assertionHeader }
  // Indexed [from a trusted proxy][hide credentials]: four filters built once, one picked per request.
  const headerFilters = [false, true].map((fromTrustedProxy) =>
    [false, true].map((hide) => createInboundHeaderFilter({ ...policy, fromTrustedProxy, alsoRemove: hide ? CREDENTIAL_HEADERS : [] })),
  )
  const hidesCredentials = (route: CompiledRoute) => options.hideCredentials && !route.passCredentials
  const sessionCookies: readonly string[] = options.sessionCookie === undefined ? [] : [options.sessionCookie]
  const credentialCookies = (route: CompiledRoute): readonly string[] => {
    const read = route.handshakeCredentials.cookies
    if (sessionCookies.length === 0) return read
    return read.length === 0 ? sessionCookies : [...read, ...sessionCookies]
  }

  function build(rawHeaders: readonly string[], method: string, allowed: Allow): string[] {
    const { route, identity, forwarded } = allowed
    const hide = hidesCredentials(route)
    const filtered = headerFilters[forwarded.trusted ? 1 : 0]![hide ? 1 : 0]!(rawHeaders)
    const cookies = hide ? credentialCookies(route) : []
    const headers = hide && cookies.length > 0 ? withoutCredentialCookies(filtered, cookies) : filtered
    headers.push('x-forwarded-proto', forwarded.proto, 'x-forwarded-port', forwarded.port, 'x-request-id', forwarded.requestId)
    if (forwarded.forwardedFor) headers.push('x-forwarded-for', forwarded.forwardedFor)
    if (forwarded.host) headers.push('x-forwarded-host', forwarded.host)
    if (identity) headers.push(...identityFields(allowed, method))
    return headers
  }

  return { build, hidesCredentials }
}

/** The Cookie lines without the cookies a route reads a credential from (a line left empty is dropped). */
function withoutCredentialCookies(headers: string[], names: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!
    const value = name.toLowerCase() === 'cookie' ? withoutCookies(headers[i + 1]!, names) : headers[i + 1]!
    if (value !== undefined) kept.push(name, value)
  }
  return kept
}
