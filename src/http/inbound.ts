import type { IncomingMessage } from 'node:http'
import { foldName, isWellFormedHost } from './headers.ts'
import { ProblemError, problems } from './problem.ts'

/** What the checks learned about the request's header section, for later stages. */
export type InboundHeaders = {
  /** The one Host value, validated; undefined for an HTTP/1.0 request that sent none. */
  host: string | undefined
  /**
   * Whether a body follows (chunked, or a Content-Length other than 0): read here, in the walk
   * that happens anyway, so the forward stage never makes Node build `req.headers`.
   */
  body: boolean
}

const HOST = 'host'
const AUTHORIZATION = 'authorization'
const X_API_KEY = 'x-api-key'
const TRANSFER_ENCODING = 'transfer-encoding'
const CONTENT_LENGTH = 'content-length'

function refuse(detail: string): never {
  throw new ProblemError(problems.badRequest(detail))
}

/**
 * Refuses a header section that two readers could read two ways (RFC 9112 §3.2, RFC 9110 §5.3):
 *
 * - more than one Host line, or a Host that is empty, non-ASCII, carries userinfo or a bad port:
 *   one server routes on the first line, another on the last, a third on the authority of a
 *   userinfo form;
 * - more than one credential line (`Authorization`, `X-Api-Key`), or an `X-Api-Key` value that is
 *   a comma-joined list: Node keeps the first `Authorization` and joins `X-Api-Key` lines, an
 *   upstream may read the other one;
 * - a credential header spelled with `_` or `.`: gatehouse reads `X-Api-Key`, but CGI-style
 *   servers turn `X_Api_Key` into the same variable and would take a credential gatehouse never checked.
 *
 * - a Transfer-Encoding other than `chunked`.
 *
 * `rawHeaders` is Node's flat list; it is walked once and nothing is allocated for the usual request.
 * A walk that reads other headers too (src/decide) feeds the same checks with `inboundTally`.
 */
export function checkInboundHeaders(rawHeaders: readonly string[], httpVersion: string): InboundHeaders {
  checkHttpVersion(httpVersion)
  const tally = inboundTally()
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (INBOUND_NAME_LENGTHS.has(name.length)) tallyInboundHeader(tally, name.toLowerCase(), rawHeaders[i + 1] as string)
  }
  return inboundHeadersOf(tally, httpVersion)
}

/** Node also parses HTTP/0.9-style and 2.0 version strings; neither is what the upstream will see. */
export function checkHttpVersion(httpVersion: string): void {
  if (httpVersion !== '1.1' && httpVersion !== '1.0') {
    throw new ProblemError(problems.httpVersionNotSupported('Only HTTP/1.1 and HTTP/1.0 are accepted'))
  }
}

/** What the checks have counted of a header section so far. */
export type InboundTally = { host: string | undefined; hosts: number; authorizations: number; apiKeys: number; body: boolean }

/** Lengths of the header names the checks read: a walk folds only names of these lengths. */
export const INBOUND_NAME_LENGTHS: ReadonlySet<number> = new Set([4, 9, 13, 14, 17])

export function inboundTally(): InboundTally {
  return { host: undefined, hosts: 0, authorizations: 0, apiKeys: 0, body: false }
}

/** Counts one header line, `folded` its lower-case name; refuses at once what no count can make right. */
export function tallyInboundHeader(tally: InboundTally, folded: string, value: string): void {
  if (folded === CONTENT_LENGTH) {
    // Node has refused a malformed or repeated Content-Length already.
    tally.body ||= value.trim() !== '0'
  } else if (folded === TRANSFER_ENCODING) {
    tally.body = true
    // Node decodes chunked and passes `gzip, chunked` on as if it were plain chunked; the body the
    // upstream would get is not the one the client framed.
    if (value.trim().toLowerCase() !== 'chunked') refuse('Only Transfer-Encoding: chunked is accepted')
  } else if (folded === HOST) {
    tally.hosts++
    tally.host = value
  } else if (folded === AUTHORIZATION) {
    tally.authorizations++
  } else if (folded.length === X_API_KEY.length && foldName(folded) === X_API_KEY) {
    if (folded !== X_API_KEY) refuse('Credential headers must be spelled with dashes (X-Api-Key)')
    tally.apiKeys++
    if (value.includes(',')) refuse('X-Api-Key holds a list; send exactly one key')
  }
}

/** The verdict on a whole header section once every line was tallied. */
export function inboundHeadersOf(tally: InboundTally, httpVersion: string): InboundHeaders {
  const { host, hosts, body } = tally
  if (tally.authorizations > 1) refuse('More than one Authorization header was sent; send one')
  if (tally.apiKeys > 1) refuse('More than one X-Api-Key header was sent; send one')
  if (hosts > 1) refuse('More than one Host header was sent')
  if (hosts === 0) {
    // Node refuses an HTTP/1.1 request without Host itself; HTTP/1.0 had none.
    if (httpVersion !== '1.0') refuse('The Host header is missing')
    return { host: undefined, body }
  }
  if (!isWellFormedHost(host)) refuse('The Host header is not a valid host[:port]')
  return { host, body }
}

/**
 * The one value of a header the decision reads (the org id of an org rule): undefined when absent,
 * 400 when sent twice — Node would join the lines into `a, b`, and an upstream that reads the
 * first or the last line would act on an org that was never checked. `X_Org_Id` and `X.Org.Id`
 * count as the same header: a CGI-style upstream reads all three as HTTP_X_ORG_ID.
 */
export function singleHeader(rawHeaders: readonly string[], name: string): string | undefined {
  const wanted = foldName(name)
  let value: string | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (foldName(rawHeaders[i] as string) !== wanted) continue
    if (value !== undefined) refuse(`More than one ${name} header was sent`)
    value = rawHeaders[i + 1] as string
  }
  return value
}

/** The one value of a query parameter the decision reads; 400 when it is given twice, for the same reason. */
export function singleQueryParam(query: string, name: string): string | undefined {
  const values = new URLSearchParams(query).getAll(name)
  if (values.length > 1) refuse(`The query parameter ${name} was given more than once`)
  return values[0]
}

/**
 * Whether a request announced a body (chunked, or a Content-Length other than 0). For answers
 * written without a decision's `body`: reading `req.headers` makes Node build the whole object.
 */
export function declaresBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0'
}
