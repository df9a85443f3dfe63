/**
 * RFC 9457 problem details: the one error shape of every gatehouse response it makes itself.
 * Bodies never carry a stack trace, a credential or any other secret.
 */
export type Problem = {
  type: string
  title: string
  status: number
  detail?: string
  [extension: string]: unknown
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export class ProblemError extends Error {
  readonly problem: Problem
  readonly headers: Record<string, string>

  constructor(problem: Problem, headers: Record<string, string> = {}) {
    super(problem.detail ?? problem.title)
    this.name = 'ProblemError'
    this.problem = problem
    this.headers = headers
  }

  get status(): number {
    return this.problem.status
  }
}

/** Builds a problem; `slug` names the kind of error, e.g. `invalid-token`. */
export function problem(status: number, slug: string, title: string, detail?: string, extensions: Record<string, unknown> = {}): Problem {
  return { type: `urn:gatehouse:problem:${slug}`, title, status, ...(detail === undefined ? {} : { detail }), ...extensions }
}

export const problems = {
  badRequest: (detail: string) => problem(400, 'bad-request', 'Bad Request', detail),
  unauthorized: (detail: string) => problem(401, 'unauthorized', 'Unauthorized', detail),
  forbidden: (detail: string) => problem(403, 'forbidden', 'Forbidden', detail),
  notFound: (detail = 'No route matches this request') => problem(404, 'not-found', 'Not Found', detail),
  methodNotAllowed: (detail: string) => problem(405, 'method-not-allowed', 'Method Not Allowed', detail),
  requestTimeout: (detail: string) => problem(408, 'request-timeout', 'Request Timeout', detail),
  headersTooLarge: (detail: string) => problem(431, 'headers-too-large', 'Request Header Fields Too Large', detail),
  httpVersionNotSupported: (detail: string) => problem(505, 'http-version-not-supported', 'HTTP Version Not Supported', detail),
  tooManyRequests: (waitSeconds: number) =>
    problem(429, 'rate-limited', 'Too Many Requests', `Rate limit exceeded; retry in ${waitSeconds} s`, {
      wait_seconds: waitSeconds,
      user_facing_error: 'Too many requests, please try again later.',
      error_code: 'rate_limit_exceeded',
    }),
  tooManyTunnels: (cap: number) =>
    problem(429, 'too-many-websockets', 'Too Many Requests', `At most ${cap} WebSocket connections may be open at once`, {
      user_facing_error: 'Too many open connections, close one and try again.',
      error_code: 'websocket_connections_exceeded',
    }),
  badGateway: (detail: string) => problem(502, 'bad-gateway', 'Bad Gateway', detail),
  serviceUnavailable: (detail: string) => problem(503, 'service-unavailable', 'Service Unavailable', detail),
  gatewayTimeout: (detail: string) => problem(504, 'gateway-timeout', 'Gateway Timeout', detail),
  internal: () => problem(500, 'internal', 'Internal Server Error', 'The gateway failed to handle this request'),
}

export function problemBody(p: Problem): string {
  return JSON.stringify(p)
}
