import type { ServerResponse } from 'node:http'
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem.ts'
import type { Problem } from './problem.ts'

/**
 * Writes a problem response straight to Node's response; `headers` is a flat [name, value, ...] list. Does nothing when headers already
 * went out (the status can no longer change) except ending a response that is still open.
 */
export function sendProblem(res: ServerResponse, p: Problem, headers: readonly string[] = []): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.destroy()
    return
  }
  const body = problemBody(p)
  res.writeHead(p.status, [
    ...headers,
    'content-type',
    PROBLEM_CONTENT_TYPE,
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
  ])
  res.end(body)
}
