import { randomUUID } from 'node:crypto'
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net'
import type { Network } from './networks.ts'

export type HeaderPolicy = {
  /** Prefix of the identity headers gatehouse sets, e.g. `X-Gatehouse-`. */
  identityPrefix: string
  /** Name of the signed assertion header, e.g. `X-Gatehouse-Assertion`. */
  assertionHeader: string
  /** Further headers to remove, e.g. the credential gatehouse consumed (`hide_credentials`). */
  alsoRemove?: readonly string[]
  /** Whether the peer is a `trust_proxy` entry, whose forwarding headers are passed on. */
  fromTrustedProxy?: boolean
}

/**
 * Header names compared after lower-casing and `_`/`.`→`-`: servers built on CGI conventions (WSGI,
 * Rack, PHP) turn `X-Gatehouse-User-Id`, `x_gatehouse_user_id` and (PHP) `X.Gatehouse.User.Id`
 * alike into `HTTP_X_GATEHOUSE_USER_ID`, so a spelling gatehouse did not recognise would reach the
 * upstream as the identity header itself.
 */
export function foldName(name: string): string {
  const lower = name.toLowerCase()
  return lower.includes('_') || lower.includes('.') ? lower.replace(/[_.]/g, '-') : lower
}

/**
 * Remembers a per-request computation on a string that repeats across requests (a header name as
 * clients spell it, a peer address). The bound keeps attacker-chosen strings from growing it, and
 * emptying it when full keeps the worst case at the cost of not remembering.
 */
function remembered<T extends boolean | number>(compute: (key: string) => T, limit: number): (key: string) => T {
  const cache = new Map<string, T>()
  return (key) => {
    let value = cache.get(key)
    if (value === undefined) {
      if (cache.size >= limit) cache.clear()
      value = compute(key)
      cache.set(key, value)
    }
    return value
  }
}

const REMOVED = [
  // Hop-by-hop (RFC 9110 §7.6.1): the upstream client writes its own Connection, and frames the
  // body itself (Content-Length or chunked).
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'expect',
  // Only meaningful with an h2c Upgrade, which is never passed on.
  'http2-settings',
  // A rule allows a method; an override would let the upstream run another one.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  // Path overrides honoured by IIS URL Rewrite and some PHP frameworks: the upstream would serve a
  // path other than the one that was matched. Not even a trusted proxy may send them.
  'x-original-url',
  'x-rewrite-url',
  // Set by the forward stage for the upstream; the inbound ones go through createForwardedHeaders.
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-request-id',
]

/**
 * What a proxy in front tells the upstream about the original request: believed from a
 * `trust_proxy` peer and passed on as sent, removed from anyone else — an upstream that builds
 * redirects, links or routing from them would otherwise take the client's word for its own URL.
 */
const FROM_TRUSTED_PROXIES_ONLY = [
  'forwarded',
  'x-real-ip',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-original-uri',
  'x-envoy-original-path',
]

const KEEP = 0
const DROP = 1
const CONNECTION = 2

/**
 * Builds the filter that gives the inbound headers the forward stage may pass on: everything but
 * the headers gatehouse owns (identity prefix, assertion), method and path overrides, hop-by-hop
 * headers including those the `Connection` header names, and the forwarding headers that gatehouse
 * recomputes. Input and output are Node's flat `rawHeaders` form, which the upstream client writes as is.
 */
export function createInboundHeaderFilter(policy: HeaderPolicy): (rawHeaders: readonly string[]) => string[] {
  const prefix = foldName(policy.identityPrefix)
  // An empty prefix would silently strip every header.
  if (prefix === '') throw new Error('The identity header prefix must not be empty')
  const removed = new Set([
    ...REMOVED,
    ...(policy.fromTrustedProxy ? [] : FROM_TRUSTED_PROXIES_ONLY),
    foldName(policy.assertionHeader),
    ...(policy.alsoRemove ?? []).map(foldName),
  ])
  const isRemoved = (folded: string) => removed.has(folded) || folded.startsWith(prefix)
  const classify = remembered((name) => {
    const folded = foldName(name)
    return folded === 'connection' ? CONNECTION : isRemoved(folded) ? DROP : KEEP
  }, 1024)
  // Clients repeat one Connection value (`keep-alive`) on every request, and it names nothing that
  // is kept: that answer is remembered instead of splitting and folding the value each time.
  const namesKeptHeader = remembered((value) => connectionOptions(value, isRemoved, undefined) !== undefined, 1024)

  return (rawHeaders) => {
    const kept: string[] = []
    let listed: Set<string> | undefined
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string
      const kind = classify(name)
      if (kind === KEEP) kept.push(name, rawHeaders[i + 1] as string)
      else if (kind === CONNECTION && namesKeptHeader(rawHeaders[i + 1] as string)) {
        listed = connectionOptions(rawHeaders[i + 1] as string, isRemoved, listed)
      }
    }
    // `Connection` may come after the headers it names, so those go in a second pass; the usual
    // `Connection: keep-alive` or `close` names nothing that is not already removed and skips it.
    if (listed === undefined) return kept
    const result: string[] = []
    for (let i = 0; i + 1 < kept.length; i += 2) {
      if (!listed.has(foldName(kept[i] as string))) result.push(kept[i] as string, kept[i + 1] as string)
    }
    return result
  }
}

function connectionOptions(
  value: string,
  isRemoved: (folded: string) => boolean,
  listed: Set<string> | undefined,
): Set<string> | undefined {
  for (const token of value.split(',')) {
    const folded = foldName(token.trim())
    if (folded !== '' && !isRemoved(folded)) (listed ??= new Set()).add(folded)
  }
  return listed
}

export type ForwardedInput = {
  /** `socket.remoteAddress`; undefined once the socket is gone. */
  remoteAddress: string | undefined
  xForwardedFor?: string
  xForwardedProto?: string
  xForwardedHost?: string
  xForwardedPort?: string
  /** The request's Host, already validated. */
  host?: string
  requestId?: string
}

export type Forwarded = {
  /** The X-Forwarded-For to send upstream; `''` when the peer address is unknown. */
  forwardedFor: string
  proto: 'http' | 'https'
  /** The X-Forwarded-Host to send upstream; `''` when no well-formed host was given. */
  host: string
  /** The X-Forwarded-Port: the port the client connected to, as the host and proto imply. */
  port: string
  /** Whether the peer is a trusted proxy (its forwarding headers were believed). */
  trusted: boolean
  requestId: string
  /** The address gatehouse believes is the client's: the key for rate limits and logs. */
  clientIp: string
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const HOST_NAME = /^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*(?::(\d{1,5}))?$/
const HOST_IPV6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i

/**
 * `host[:port]` as a Host or X-Forwarded-Host may carry it: DNS labels (letters, digits, `-`, `_`)
 * or a bracketed IPv6 literal, and a port from 1 to 65535. The one check for both headers.
 */
export function isWellFormedHost(host: string | undefined): host is string {
  if (host === undefined || host.length > 261) return false
  const name = HOST_NAME.exec(host)
  if (name !== null) return name[1] === undefined || isPort(name[1])
  const v6 = HOST_IPV6.exec(host)
  return v6 !== null && isIPv6(v6[1] as string) && (v6[2] === undefined || isPort(v6[2]))
}

/** Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`; logs and upstreams expect `a.b.c.d`. */
function unmap(address: string): string {
  const mapped = MAPPED_IPV4.exec(address)
  return mapped !== null && isIPv4(mapped[1] as string) ? (mapped[1] as string) : address
}

/**
 * The IP address of one X-Forwarded-For entry, which some proxies write with a port
 * (`1.2.3.4:5678`, `[::1]:80`); undefined when the entry is not an address at all.
 */
function entryAddress(entry: string): string | undefined {
  if (isIP(entry) !== 0) return unmap(entry)
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    const inside = entry.slice(1, close)
    const rest = entry.slice(close + 1)
    return close > 0 && isIPv6(inside) && (rest === '' || /^:\d{1,5}$/.test(rest)) ? unmap(inside) : undefined
  }
  const colon = entry.indexOf(':')
  return colon > 0 && isIPv4(entry.slice(0, colon)) && /^\d{1,5}$/.test(entry.slice(colon + 1)) ? entry.slice(0, colon) : undefined
}

/**
 * Builds the function that computes the forwarding headers and the client address of a request.
 * Inbound forwarding headers are believed only when the direct peer is a trusted proxy (an IP or
 * CIDR of `trustProxy`, IPv4 and IPv6, IPv4-mapped IPv6 matching its IPv4 form); otherwise anyone
 * could choose the client address that rate limits are keyed on.
 */
export function createForwardedHeaders(trustProxy: readonly Network[]): (input: ForwardedInput) => Forwarded {
  const isTrusted = createTrustCheck(trustProxy)

  return (input) => {
    const peer = peerAddress(input.remoteAddress)
    if (!isTrusted(peer)) {
      const host = isWellFormedHost(input.host) ? input.host : ''
      return {
        forwardedFor: peer,
        proto: 'http',
        host,
        port: portOf(host, 'http'),
        trusted: false,
        requestId: randomUUID(),
        clientIp: peer,
      }
    }
    const chain = (input.xForwardedFor ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '')
    const proto = input.xForwardedProto?.trim().toLowerCase() === 'https' ? 'https' : 'http'
    const host = isWellFormedHost(input.xForwardedHost) ? input.xForwardedHost : isWellFormedHost(input.host) ? input.host : ''
    const port = input.xForwardedPort?.trim()
    return {
      forwardedFor: chain.length === 0 ? peer : `${chain.join(', ')}, ${peer}`,
      proto,
      host,
      port: port !== undefined && isPort(port) ? port : portOf(host, proto),
      trusted: true,
      requestId: input.requestId !== undefined && REQUEST_ID.test(input.requestId) ? input.requestId : randomUUID(),
      clientIp: clientAddress(chain, peer, isTrusted),
    }
  }
}

/**
 * Whether an address (a peer, an X-Forwarded-For entry; IPv4-mapped IPv6 already unmapped) is in
 * `trustProxy`. BlockList.check costs about 1.7 µs a call here; peers and proxies repeat, so
 * answers are remembered.
 */
function createTrustCheck(trustProxy: readonly Network[]): (address: string) => boolean {
  if (trustProxy.length === 0) return () => false
  const trusted = new BlockList()
  for (const network of trustProxy) trusted.addSubnet(network.address, network.prefix, network.family)
  return remembered((address) => {
    const family = isIP(address)
    return family !== 0 && trusted.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }, 4096)
}

function peerAddress(remoteAddress: string | undefined): string {
  return remoteAddress === undefined ? '' : unmap(remoteAddress)
}

/** Whether the direct peer (`socket.remoteAddress`) is a `trust_proxy` entry: the same test the forwarding headers get. */
export function createTrustedPeerCheck(trustProxy: readonly Network[]): (remoteAddress: string | undefined) => boolean {
  const isTrusted = createTrustCheck(trustProxy)
  return (remoteAddress) => isTrusted(peerAddress(remoteAddress))
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65535
}

/** The port written in `host`, or the scheme's default when it names none. */
function portOf(host: string, proto: 'http' | 'https'): string {
  const colon = host.lastIndexOf(':')
  const port = colon === -1 || host.endsWith(']') ? '' : host.slice(colon + 1)
  return isPort(port) ? port : proto === 'https' ? '443' : '80'
}

/**
 * Walks the chain from the right, where the entries were written by proxies we trust, and stops
 * at the first address we do not trust: everything to its left the client could have written.
 * An entry that is not an address means a proxy we trust did not report one, so the walk stops
 * there too and the last hop that is known — a trusted proxy — stands in for the client.
 */
function clientAddress(chain: readonly string[], peer: string, isTrusted: (address: string) => boolean): string {
  let client = peer
  for (let i = chain.length - 1; i >= 0; i--) {
    const address = entryAddress(chain[i] as string)
    if (address === undefined) return client
    if (!isTrusted(address)) return address
    client = address
  }
  return client
}

const PRINTABLE_WITHOUT_PERCENT = /^[\x20-\x24\x26-\x7e]*$/
const SPACE = 0x20

/**
 * Makes a value safe to send as an identity header while keeping it recoverable. The rule the
 * upstream relies on: `decodeURIComponent(header)` always gives back the original value.
 *
 * - A value of printable ASCII (0x20–0x7E) with no `%` and no leading or trailing space (which
 *   HTTP would trim) is sent unchanged; decoding it is the identity since it has no `%`.
 * - Any other value is sent with every UTF-8 byte outside 0x21–0x7E, and every `%`, written as
 *   `%XX` (upper-case hex). CR, LF and NUL therefore never reach a header. A lone UTF-16
 *   surrogate, which has no UTF-8 form, becomes U+FFFD.
 */
export function encodeHeaderValue(value: string): string {
  if (PRINTABLE_WITHOUT_PERCENT.test(value) && value.charCodeAt(0) !== SPACE && value.charCodeAt(value.length - 1) !== SPACE) {
    return value
  }
  let encoded = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    encoded +=
      byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}
