import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Caller, OrgMemberInfo, User } from './models.ts'
import { checkOrgMember, isProblem, unauthorized } from './policy.ts'
import type { OrgRequirement, Problem } from './policy.ts'
import type { Verifier } from './verifier.ts'

export type GatehouseRequest = IncomingMessage & {
  params?: Record<string, string | undefined>
  /** Express's target before a router stripped its mount path; the assertion is bound to it. */
  originalUrl?: string
  caller?: Caller
  currentUser?: User
  currentOrg?: OrgMemberInfo
}
export type NextFunction = (err?: unknown) => void
export type Middleware = (req: GatehouseRequest, res: ServerResponse, next: NextFunction) => void

export type ExpressOrgMemberOptions = OrgRequirement & {
  /** Which org the route acts on; defaults to `req.params.org_id`, then the gateway's active org. */
  orgId?: (req: GatehouseRequest) => string | undefined
}

function sendProblem(res: ServerResponse, p: Problem): void {
  const body = JSON.stringify({ type: 'about:blank', title: p.title, status: p.status, detail: p.detail })
  res.writeHead(p.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function wrap(verifier: Verifier, decide: (req: GatehouseRequest, caller: Caller | undefined) => Problem | undefined): Middleware {
  return (req, res, next) => {
    verifier
      .fromHeaders(req.headers, { method: req.method ?? '', path: req.originalUrl ?? req.url ?? '' })
      .then(
        (caller) => {
          const p = decide(req, caller)
          if (p) sendProblem(res, p)
          else next()
        },
        () => sendProblem(res, unauthorized('invalid identity assertion')),
      )
      .catch(next)
  }
}

export function requireUser(verifier: Verifier): Middleware {
  return wrap(verifier, (req, caller) => {
    if (!caller?.user) return unauthorized('a user is required')
    req.caller = caller
    req.currentUser = caller.user
    return undefined
  })
}

export function optionalUser(verifier: Verifier): Middleware {
  return wrap(verifier, (req, caller) => {
    req.caller = caller
    req.currentUser = caller?.user
    return undefined
  })
}

export function requireOrgMember(verifier: Verifier, options: ExpressOrgMemberOptions = {}): Middleware {
  return wrap(verifier, (req, caller) => {
    if (!caller) return unauthorized('missing identity assertion')
    const orgId = options.orgId ? options.orgId(req) : req.params?.org_id
    const result = checkOrgMember(caller, orgId, options)
    if (isProblem(result)) return result
    req.caller = caller
    req.currentUser = result.user
    req.currentOrg = result.org
    return undefined
  })
}
