import { ProblemError, problems } from '../http/index.ts'
import { credentialOf, extractCredential } from './credentials.ts'
import type { Credential } from './credentials.ts'

/** The request headers a WebSocket handshake's credential may be carried in, as received (repeated lines joined). */
export type HandshakeCarriers = {
  authorization: string | undefined
  xApiKey: string | undefined
  cookie: string | undefined
  websocketProtocol: string | undefined
}

/** Which carriers the route reads (its `credentials_from`). */
export type HandshakeSources = { header: boolean; cookies: readonly string[]; websocketProtocol: boolean }

/** The subprotocol that announces a credential in the next list entry: `Sec-WebSocket-Protocol: bearer, <credential>`. */
export const BEARER_SUBPROTOCOL = 'bearer'

function refuse(detail: string): never {
  throw new ProblemError(problems.badRequest(detail))
}

/**
 * The one credential of a WebSocket handshake, read from every carrier the route names. Like the
 * header pair, two carriers may hold the same credential but never two different ones: a carrier
 * gatehouse did not pick must not hold a credential the upstream might read instead.
 */
export function extractHandshakeCredential(
  carriers: HandshakeCarriers,
  sources: HandshakeSources,
): { credential: Credential; fromCookie: boolean } {
  let value: string | undefined
  let fromCookie = false
  const offer = (candidate: string | undefined, cookie: boolean) => {
    if (candidate === undefined) return
    if (value !== undefined && value !== candidate) refuse('Two different credentials were sent; send one')
    value = candidate
    fromCookie ||= cookie
  }
  if (sources.header) {
    const header = extractCredential(carriers.authorization, carriers.xApiKey)
    if (header.kind !== 'none') offer(header.kind === 'token' ? header.token : header.key, false)
  }
  for (const name of sources.cookies) offer(cookieValue(carriers.cookie, name), true)
  if (sources.websocketProtocol && carriers.websocketProtocol !== undefined) {
    offer(splitSubprotocols(carriers.websocketProtocol).credential, false)
  }
  return { credential: value === undefined ? { kind: 'none' } : credentialOf(value), fromCookie }
}

/** The value of one cookie; 400 when the name is sent twice (a browser sends both of two cookies set for different paths). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let value: string | undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
    if (value !== undefined) refuse(`The cookie ${name} was sent more than once`)
    value = pair.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1)
    if (value === '') refuse(`The cookie ${name} is empty`)
  }
  return value
}

/** The Cookie header without the named cookies; undefined when nothing is left. */
export function withoutCookies(header: string, names: readonly string[]): string | undefined {
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=')
    return !names.includes((eq === -1 ? pair : pair.slice(0, eq)).trim())
  })
  const joined = kept
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .join('; ')
  return joined === '' ? undefined : joined
}

/**
 * A `Sec-WebSocket-Protocol` list read for the bearer convention: the credential after `bearer`
 * (400 when `bearer` comes twice or is last), whether `bearer` was offered, and the other
 * subprotocols, which are what the upstream may choose from.
 */
export function splitSubprotocols(header: string): { credential: string | undefined; bearer: boolean; others: string[] } {
  const entries = header
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  const at = entries.indexOf(BEARER_SUBPROTOCOL)
  if (at === -1) return { credential: undefined, bearer: false, others: entries }
  if (entries.indexOf(BEARER_SUBPROTOCOL, at + 1) !== -1) refuse('The bearer subprotocol was offered more than once')
  const credential = entries[at + 1]
  if (credential === undefined) refuse('The bearer subprotocol must be followed by the credential')
  return { credential, bearer: true, others: entries.filter((_entry, i) => i !== at && i !== at + 1) }
}
