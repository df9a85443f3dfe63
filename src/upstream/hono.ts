import type { Context, MiddlewareHandler } from 'hono'
import type { Caller, OrgMemberInfo, User } from './models.ts'
import { checkOrgMember, isProblem, unauthorized } from './policy.ts'
import type { OrgRequirement, Problem } from './policy.ts'
import type { Verifier } from './verifier.ts'

export type GatehouseVariables = {
  caller: Caller | undefined
  currentUser: User | undefined
  currentOrg: OrgMemberInfo | undefined
}
export type GatehouseEnv = { Variables: GatehouseVariables }

export type HonoOrgMemberOptions = OrgRequirement & {
  /** Which org the route acts on; defaults to the `org_id` path parameter, then the gateway's active org. */
  orgId?: (c: Context) => string | undefined
}

function problem(c: Context, p: Problem): Response {
  return c.json({ type: 'about:blank', title: p.title, status: p.status, detail: p.detail }, p.status, {
    'content-type': 'application/problem+json',
  })
}

async function readCaller(verifier: Verifier, c: Context): Promise<Caller | undefined | Problem> {
  try {
    return await verifier.fromHeaders(c.req.raw.headers, { method: c.req.method, path: c.req.url })
  } catch {
    return unauthorized('invalid identity assertion')
  }
}

/** 401 unless a valid assertion names a user. */
export function requireUser(verifier: Verifier): MiddlewareHandler<GatehouseEnv> {
  return async (c, next) => {
    const caller = await readCaller(verifier, c)
    if (isProblem(caller)) return problem(c, caller)
    if (!caller?.user) return problem(c, unauthorized('a user is required'))
    c.set('caller', caller)
    c.set('currentUser', caller.user)
    await next()
  }
}

/** Sets currentUser when a valid assertion names a user; an invalid assertion is still 401. */
export function optionalUser(verifier: Verifier): MiddlewareHandler<GatehouseEnv> {
  return async (c, next) => {
    const caller = await readCaller(verifier, c)
    if (isProblem(caller)) return problem(c, caller)
    c.set('caller', caller)
    c.set('currentUser', caller?.user)
    await next()
  }
}

export function requireOrgMember(verifier: Verifier, options: HonoOrgMemberOptions = {}): MiddlewareHandler<GatehouseEnv> {
  return async (c, next) => {
    const caller = await readCaller(verifier, c)
    if (isProblem(caller)) return problem(c, caller)
    if (!caller) return problem(c, unauthorized('missing identity assertion'))
    const orgId = options.orgId ? options.orgId(c) : c.req.param('org_id')
    const result = checkOrgMember(caller, orgId, options)
    if (isProblem(result)) return problem(c, result)
    c.set('caller', caller)
    c.set('currentUser', result.user)
    c.set('currentOrg', result.org)
    await next()
  }
}
