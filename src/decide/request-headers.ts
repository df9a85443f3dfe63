import { checkHttpVersion, INBOUND_NAME_LENGTHS, inboundHeadersOf, inboundTally, tallyInboundHeader } from '../http/index.ts'
import type { ForwardedInput, InboundHeaders, InboundTally } from '../http/index.ts'

/** The request's headers that the decision reads, and the forwarding input they are part of. */
export type RequestFacts = ForwardedInput & { authorization: string | undefined; xApiKey: string | undefined }

/** Lengths of the names readRequestFacts reads (x-api-key 9, x-request-id 12, authorization 13, x-forwarded-* 15–17). */
const FACT_NAME_LENGTHS: ReadonlySet<number> = new Set([9, 12, 13, 15, 16, 17])
/** Either set: the one walk of a request's headers folds only names of these lengths. */
const WALKED_NAME_LENGTHS: ReadonlySet<number> = new Set([...FACT_NAME_LENGTHS, ...INBOUND_NAME_LENGTHS])

/**
 * The header section of a request the decision decides, in ONE walk over Node's raw list: the
 * inbound checks (src/http `checkInboundHeaders`'s, 400/505 on what two readers could read two
 * ways) and the facts the decision reads. Most headers cost a length lookup.
 */
export function readRequestHeaders(
  rawHeaders: readonly string[],
  httpVersion: string,
  remoteAddress: string | undefined,
): { inbound: InboundHeaders; facts: RequestFacts } {
  checkHttpVersion(httpVersion)
  const tally = inboundTally()
  const facts = walk(rawHeaders, remoteAddress, tally)
  const inbound = inboundHeadersOf(tally, httpVersion)
  facts.host = inbound.host
  return { inbound, facts }
}

/**
 * The facts alone, read as Node's `req.headers` would: repeated lines joined with `, `, except
 * Authorization, whose first line counts (repeats are refused by the inbound checks). For a
 * refusal's request id, where the checks may be what refused it.
 */
export function readRequestFacts(rawHeaders: readonly string[], remoteAddress: string | undefined, host: string | undefined): RequestFacts {
  const facts = walk(rawHeaders, remoteAddress, undefined)
  facts.host = host
  return facts
}

/** One walk for the facts, feeding `tally` (when given) every line the inbound checks read. */
function walk(rawHeaders: readonly string[], remoteAddress: string | undefined, tally: InboundTally | undefined): RequestFacts {
  const facts: RequestFacts = {
    remoteAddress,
    host: undefined,
    authorization: undefined,
    xApiKey: undefined,
    xForwardedFor: undefined,
    xForwardedProto: undefined,
    xForwardedHost: undefined,
    xForwardedPort: undefined,
    requestId: undefined,
  }
  const lengths = tally ? WALKED_NAME_LENGTHS : FACT_NAME_LENGTHS
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (!lengths.has(name.length)) continue
    const value = rawHeaders[i + 1] as string
    const folded = name.toLowerCase()
    if (tally && INBOUND_NAME_LENGTHS.has(name.length)) tallyInboundHeader(tally, folded, value)
    switch (folded) {
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
