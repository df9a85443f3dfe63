import type { Duplex } from 'node:stream'
import { PROBLEM_CONTENT_TYPE, problemBody, problems } from './problem.ts'
import type { Problem } from './problem.ts'

/**
 * Answers that are written to the socket itself, for requests Node never hands to a request
 * handler: CONNECT (a tunnel request, emitted as `connect`), whatever its parser refused
 * (`clientError`) and refused upgrades. Without these, CONNECT got a silently closed socket and
 * parse errors a bare `400` with no body; now each is problem+json like every other refusal, and
 * the connection ends.
 */
export function answerOnSocket(socket: Duplex, p: Problem, headers: readonly string[] = []): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = problemBody(p)
  const lines = [
    `HTTP/1.1 ${p.status} ${p.title}`,
    `content-type: ${PROBLEM_CONTENT_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    'connection: close',
  ]
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`)
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`)
}

/** Why a request Node's parser refused was answered as it was: the access log's `reason`. */
export type ParserRefusalReason = 'bad_request' | 'method_not_allowed' | 'headers_too_large' | 'request_timeout'

const METHOD_TOKEN = /^[A-Za-z]+ /

/**
 * `server.on('clientError')`: the status Node would pick, with a problem body. A method Node does
 * not know (`TRACK`, `PURGE`) is 405 when it is a plain token, like any method no rule allows.
 * Returns what was answered, for the access log; undefined when the client had gone (nothing was).
 */
export function answerClientError(
  err: Error & { code?: string; rawPacket?: Buffer },
  socket: Duplex,
  headers: readonly string[] = [],
): { status: number; reason: ParserRefusalReason } | undefined {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return undefined
  }
  const [p, reason] = clientErrorProblem(err)
  answerOnSocket(socket, p, headers)
  return { status: p.status, reason }
}

function clientErrorProblem(err: Error & { code?: string; rawPacket?: Buffer }): [Problem, ParserRefusalReason] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [problems.headersTooLarge('The request headers are too large'), 'headers_too_large']
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [problems.requestTimeout('The request did not arrive in time'), 'request_timeout']
    case 'HPE_INVALID_METHOD':
      if (METHOD_TOKEN.test(err.rawPacket?.subarray(0, 32).toString('latin1') ?? '')) {
        return [problems.methodNotAllowed('This method is never forwarded'), 'method_not_allowed']
      }
  }
  return [problems.badRequest('The request is not valid HTTP/1.1'), 'bad_request']
}
