import type { ForwardedInput } from '../http/index.ts'

/** The request's headers that the decision reads, and the forwarding input they are part of. */
export type RequestFacts = ForwardedInput & { authorization: string | undefined; xApiKey: string | undefined }

/**
 * One walk over Node's raw header list for the few headers the decision reads, read as Node's
 * `req.headers` would: repeated lines joined with `, `, except Authorization, whose first line
 * counts (repeats are refused by checkInboundHeaders before this is read). Only names of a
 * wanted length are folded, so most headers cost a length comparison.
 */
export function readRequestFacts(rawHeaders: readonly string[], remoteAddress: string | undefined, host: string | undefined): RequestFacts {
  const facts: RequestFacts = {
    remoteAddress,
    host,
    authorization: undefined,
    xApiKey: undefined,
    xForwardedFor: undefined,
    xForwardedProto: undefined,
    xForwardedHost: undefined,
    xForwardedPort: undefined,
    requestId: undefined,
  }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const length = name.length
    if (length !== 9 && length !== 12 && length !== 13 && length !== 15 && length !== 16 && length !== 17) continue
    const value = rawHeaders[i + 1] as string
    switch (name.toLowerCase()) {
      case 'authorization':
        facts.authorization ??= value
        break
      case 'x-api-key':
        facts.xApiKey = joined(facts.xApiKey, value)
        break
      case 'x-forwarded-for':
        facts.xForwardedFor = joined(facts.xForwardedFor, value)
        break
      case 'x-forwarded-proto':
        facts.xForwardedProto = joined(facts.xForwardedProto, value)
        break
      case 'x-forwarded-host':
        facts.xForwardedHost = joined(facts.xForwardedHost, value)
        break
      case 'x-forwarded-port':
        facts.xForwardedPort = joined(facts.xForwardedPort, value)
        break
      case 'x-request-id':
        facts.requestId = joined(facts.requestId, value)
        break
    }
  }
  return facts
}

function joined(before: string | undefined, value: string): string {
  return before === undefined ? value : `${before}, ${value}`
}

/** The headers a browser sends that decide whether a cookie credential may be used (read only for routes that name a cookie). */
export type BrowserFacts = { cookie: string | undefined; origin: string | undefined; secFetchSite: string | undefined }

export function readBrowserFacts(rawHeaders: readonly string[]): BrowserFacts {
  const facts: BrowserFacts = { cookie: undefined, origin: undefined, secFetchSite: undefined }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const value = rawHeaders[i + 1] as string
    switch ((rawHeaders[i] as string).toLowerCase()) {
      case 'cookie':
        facts.cookie = facts.cookie === undefined ? value : `${facts.cookie}; ${value}`
        break
      case 'origin':
        facts.origin = joined(facts.origin, value)
        break
      case 'sec-fetch-site':
        facts.secFetchSite = joined(facts.secFetchSite, value)
        break
    }
  }
  return facts
}

/** The headers only a handshake reads: its Upgrade protocols (lower-case) and the other carriers of a credential. */
export type HandshakeFacts = {
  protocols: string[]
  cookie: string | undefined
  websocketProtocol: string | undefined
  origin: string | undefined
}

/** Off the hot path (handshakes only): repeated lines are joined as Node joins them. */
export function readHandshakeFacts(rawHeaders: readonly string[]): HandshakeFacts {
  let upgrade: string | undefined
  const facts: HandshakeFacts = { protocols: [], cookie: undefined, websocketProtocol: undefined, origin: undefined }
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const value = rawHeaders[i + 1] as string
    switch ((rawHeaders[i] as string).toLowerCase()) {
      case 'upgrade':
        upgrade = joined(upgrade, value)
        break
      case 'cookie':
        facts.cookie = facts.cookie === undefined ? value : `${facts.cookie}; ${value}`
        break
      case 'sec-websocket-protocol':
        facts.websocketProtocol = joined(facts.websocketProtocol, value)
        break
      case 'origin':
        facts.origin = joined(facts.origin, value)
        break
    }
  }
  facts.protocols = (upgrade ?? '')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '')
  return facts
}
