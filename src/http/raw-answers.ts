import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { PROBLEM_CONTENT_TYPE, problemBody, problems } from './problem.ts'
import type { Problem } from './problem.ts'

/**
 * Answers that are written to the socket itself, for requests Node never hands to a request
 * handler: CONNECT (a tunnel request, emitted as `connect`) and whatever its parser refused
 * (`clientError`). Without these, CONNECT got a silently closed socket and parse errors a bare
 * `400` with no body; now both are problem+json like every other refusal, and the connection ends.
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

/** `server.on('connect')`: gatehouse never opens tunnels. */
export function refuseConnect(_req: unknown, socket: Duplex): void {
  answerOnSocket(socket, problems.methodNotAllowed('CONNECT is never forwarded'), ['x-request-id', randomUUID()])
}

const METHOD_TOKEN = /^[A-Za-z]+ /

/**
 * `server.on('clientError')`: the status Node would pick, with a problem body. A method Node does
 * not know (`TRACK`, `PURGE`) is 405 when it is a plain token, like any method no rule allows.
 */
export function answerClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  if (err.code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return answerOnSocket(socket, problems.headersTooLarge('The request headers are too large'))
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return answerOnSocket(socket, problems.requestTimeout('The request did not arrive in time'))
    case 'HPE_INVALID_METHOD':
      if (METHOD_TOKEN.test(err.rawPacket?.subarray(0, 32).toString('latin1') ?? '')) {
        return answerOnSocket(socket, problems.methodNotAllowed('This method is never forwarded'))
      }
  }
  answerOnSocket(socket, problems.badRequest('The request is not valid HTTP/1.1'))
}
