import { ProblemError, problems } from '../http/index.ts'
import { RESERVED_PREFIX } from '../rules/index.ts'

/** Where the decision endpoint is served; `<this>/<original path>` names the original request in the path (Envoy ext_authz `path_prefix`). */
export const FORWARD_AUTH_PATH = `${RESERVED_PREFIX}/auth`
const PATH_STYLE_PREFIX = `${FORWARD_AUTH_PATH}/`

/** The request the ingress asks about: its method and its raw target, decided as if it had been proxied. */
export type OriginalRequest = { method: string; target: string }

/** The decision call as the door sees it. */
export type DecisionCall = {
  method: string
  rawTarget: string
  /** The call's canonical path: the endpoint itself, or under it. */
  path: string
  rawHeaders: readonly string[]
}

/** Whether a canonical path is the endpoint, in either form; compared without case like the reserved prefix. */
export function isForwardAuthPath(path: string): boolean {
  if (path.length < FORWARD_AUTH_PATH.length) return false
  const folded = path.toLowerCase()
  return folded === FORWARD_AUTH_PATH || folded.startsWith(PATH_STYLE_PREFIX)
}

// RFC 9110 §5.6.2 token: what a method may be.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

type Named = { xForwardedMethod?: string; xForwardedUri?: string; xOriginalMethod?: string; xOriginalUri?: string }

const NAMES: Record<string, keyof Named> = {
  'x-forwarded-method': 'xForwardedMethod',
  'x-forwarded-uri': 'xForwardedUri',
  'x-original-method': 'xOriginalMethod',
  'x-original-uri': 'xOriginalUri',
}

const SPELLINGS = 'X-Forwarded-Method and X-Forwarded-Uri (Traefik, Caddy), X-Original-Method and X-Original-URI (nginx)'

/**
 * Reads which request the ingress asks about, from exactly one of: the X-Forwarded-Method and
 * X-Forwarded-Uri pair, the X-Original-Method and X-Original-URI pair, or the path after
 * `/.gatehouse/auth`. More than one, or a header sent twice, is refused (400) rather than
 * resolved by a precedence: the ingress sets its own pair, and a client that adds the other pair
 * (which the ingress passes on untouched) must not choose the path that gets decided.
 *
 * The path form is taken from the raw target only when it starts with `/.gatehouse/auth/` as
 * written: the rest is then the original target byte for byte. A spelling that only becomes that
 * prefix once normalized (`/x/../.gatehouse/auth/admin`) would make the original path depend on
 * where the prefix is cut, so it is refused.
 */
export function readOriginalRequest(call: DecisionCall): OriginalRequest {
  const named: Named = {}
  const { rawHeaders } = call
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length < 14 || name.length > 18) continue
    const key = NAMES[name.toLowerCase()]
    if (key === undefined) continue
    if (named[key] !== undefined) refuse(`More than one ${name} header was sent`)
    named[key] = rawHeaders[i + 1] as string
  }
  const fromForwarded = named.xForwardedMethod !== undefined || named.xForwardedUri !== undefined
  const fromOriginal = named.xOriginalMethod !== undefined || named.xOriginalUri !== undefined
  const inPath = call.rawTarget.slice(0, PATH_STYLE_PREFIX.length).toLowerCase() === PATH_STYLE_PREFIX
  if (!inPath && call.path.length > FORWARD_AUTH_PATH.length) refuse(`The original path must follow ${PATH_STYLE_PREFIX} as written`)
  const ways = Number(fromForwarded) + Number(fromOriginal) + Number(inPath)
  if (ways > 1) {
    refuse(
      `The original request is named more than one way; the ingress must send one of: ${SPELLINGS}, or the path after ${FORWARD_AUTH_PATH}`,
    )
  }
  if (inPath) return { method: call.method, target: call.rawTarget.slice(FORWARD_AUTH_PATH.length) }
  if (fromForwarded) return pair(named.xForwardedMethod, named.xForwardedUri, 'X-Forwarded-Method', 'X-Forwarded-Uri')
  if (fromOriginal) return pair(named.xOriginalMethod, named.xOriginalUri, 'X-Original-Method', 'X-Original-URI')
  return refuse(`No original request: send ${SPELLINGS}, or call ${PATH_STYLE_PREFIX}<original path>`)
}

function pair(method: string | undefined, target: string | undefined, methodName: string, targetName: string): OriginalRequest {
  if (method === undefined) refuse(`${targetName} was sent without ${methodName}`)
  if (target === undefined) refuse(`${methodName} was sent without ${targetName}`)
  if (!METHOD.test(method)) refuse(`${methodName} is not an HTTP method`)
  return { method, target }
}

function refuse(detail: string): never {
  throw new ProblemError(problems.badRequest(detail))
}
