import type { AuthKind, CredentialKind, RouteConfig } from '../config/schema.ts'
import type { RateSpec } from '../config/units.ts'

/** One path segment of a route pattern. */
type Segment = { kind: 'literal'; text: string } | { kind: 'param'; name: string }

export type OrgIdSource = { from: 'path' | 'header' | 'query'; name: string }

/** A route rule compiled at config load; the request path never re-parses config. */
export type CompiledRoute = {
  /** Position in the config file's `routes` list. */
  index: number
  pattern: string
  /** Allowed methods, HEAD included wherever GET is; null when the rule names none (all methods). */
  methods: ReadonlySet<string> | null
  auth: AuthKind
  orgId: OrgIdSource
  role?: string
  minRole?: string
  permissions: readonly string[]
  credentials: ReadonlySet<CredentialKind>
  /** Names of the issuers whose tokens this route accepts; null: any configured issuer. API keys are not bound by it. */
  issuers: ReadonlySet<string> | null
  scopes: readonly string[]
  rateLimit?: RateSpec
  segments: readonly Segment[]
  /** True when the pattern ends in `*`: any number (zero included) of further segments. */
  rest: boolean
}

export type RouteMatch =
  | { kind: 'matched'; route: CompiledRoute; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' }

export type RouteProblem = { index: number; key?: string; message: string }

const DEFAULT_CREDENTIALS: Record<AuthKind, readonly CredentialKind[]> = {
  none: [],
  optional: ['token', 'personal_key'],
  user: ['token', 'personal_key'],
  authenticated: ['token', 'personal_key', 'org_key', 'generic_key'],
  org_member: ['token', 'personal_key', 'org_key'],
}

const NOT_FOUND: RouteMatch = { kind: 'not-found' }

export class RouteTable {
  readonly routes: readonly CompiledRoute[]

  constructor(routes: readonly CompiledRoute[]) {
    this.routes = routes
  }

  /** First rule in file order whose pattern and methods fit; `path` must already be canonical. */
  match(method: string, path: string): RouteMatch {
    const parts = path.split('/')
    let allow: Set<string> | undefined
    for (const route of this.routes) {
      const params = matchSegments(route, parts)
      if (!params) continue
      if (route.methods === null || route.methods.has(method)) return { kind: 'matched', route, params }
      allow ??= new Set()
      for (const m of route.methods) allow.add(m)
    }
    return allow ? { kind: 'method-not-allowed', allow: [...allow] } : NOT_FOUND
  }
}

/** `parts` is the canonical path split on `/`, so parts[0] is the empty string before the first slash. */
function matchSegments(route: CompiledRoute, parts: readonly string[]): Record<string, string> | undefined {
  const { segments, rest } = route
  const count = parts.length - 1
  if (rest ? count < segments.length : count !== segments.length) return undefined
  let params: Record<string, string> | undefined
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    const part = parts[i + 1]!
    if (segment.kind === 'literal') {
      if (part !== segment.text) return undefined
    } else {
      if (part === '') return undefined
      params ??= {}
      params[segment.name] = decodeURIComponent(part)
    }
  }
  if (rest && count > segments.length) {
    params ??= {}
    params['*'] = parts.slice(segments.length + 1).join('/')
  }
  return params ?? {}
}

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/
// Unreserved characters and escaped non-ASCII bytes only: those have one spelling after
// normalization, whereas `!` and `%21` (any sub-delimiter) stay distinct here yet may be one
// path to the upstream, which would let a request slip past a rule to a weaker one.
const LITERAL = /^(?:[A-Za-z0-9\-._~]|%[89A-F][0-9A-F])*$/

/** Compiles the route list; problems name the rule index and key for the config loader to locate. */
export function compileRoutes(configs: readonly RouteConfig[]): { table: RouteTable; problems: RouteProblem[] } {
  const problems: RouteProblem[] = []
  const routes = configs.map((config, index) => compileRoute(config, index, problems))
  routes.forEach((route, i) => {
    const shadow = routes.slice(0, i).find((earlier) => covers(earlier, route))
    if (shadow) {
      problems.push({
        index: i,
        key: 'path',
        message: `unreachable: routes[${shadow.index}] (${shadow.pattern}) already matches every request this rule matches`,
      })
    }
  })
  return { table: new RouteTable(routes), problems }
}

function compileRoute(config: RouteConfig, index: number, problems: RouteProblem[]): CompiledRoute {
  const raw = config.path.split('/').slice(1)
  const rest = raw.at(-1) === '*'
  const segments: Segment[] = []
  const seen = new Set<string>()
  for (const text of rest ? raw.slice(0, -1) : raw) {
    const param = PARAM.exec(text)
    if (param) {
      if (seen.has(param[1]!)) problems.push({ index, key: 'path', message: `parameter :${param[1]} appears twice` })
      seen.add(param[1]!)
      segments.push({ kind: 'param', name: param[1]! })
    } else if (text === '.' || text === '..' || text.includes('*') || !LITERAL.test(text)) {
      problems.push({ index, key: 'path', message: `"${text}" is not a canonical path segment (a literal, :name, or a final *)` })
    } else if (text === '' && raw.length > 1) {
      problems.push({ index, key: 'path', message: 'empty path segment (//); requests are normalized and never contain one' })
    } else {
      segments.push({ kind: 'literal', text })
    }
  }
  const orgId = config.org_id ?? { from: 'path' as const, name: 'org_id' }
  if (config.auth === 'org_member' && orgId.from === 'path' && !seen.has(orgId.name)) {
    problems.push({
      index,
      key: config.org_id ? 'org_id' : 'path',
      message: `auth: org_member reads the org id from :${orgId.name}, which the path does not have`,
    })
  }
  let methods: Set<string> | null = null
  if (config.methods) {
    methods = new Set(config.methods)
    if (methods.has('GET')) methods.add('HEAD')
  }
  return {
    index,
    pattern: config.path,
    methods,
    auth: config.auth,
    orgId,
    role: config.role,
    minRole: config.min_role,
    permissions: [...(config.permission ? [config.permission] : []), ...(config.all_permissions ?? [])],
    credentials: new Set(config.credentials ?? DEFAULT_CREDENTIALS[config.auth]),
    issuers: config.issuers ? new Set(config.issuers) : null,
    scopes: config.scopes ?? [],
    rateLimit: config.rate_limit,
    segments,
    rest,
  }
}

/** Whether every request `later` can match is matched by `earlier` first (same or wider methods). */
function covers(earlier: CompiledRoute, later: CompiledRoute): boolean {
  if (earlier.methods !== null && (later.methods === null || [...later.methods].some((m) => !earlier.methods!.has(m)))) {
    return false
  }
  if (earlier.rest) {
    if (later.segments.length < earlier.segments.length) return false
  } else if (later.rest || later.segments.length !== earlier.segments.length) {
    return false
  }
  return earlier.segments.every((segment, i) => {
    const other = later.segments[i]!
    if (segment.kind === 'param') return other.kind === 'param' || other.text !== ''
    return other.kind === 'literal' && other.text === segment.text
  })
}
