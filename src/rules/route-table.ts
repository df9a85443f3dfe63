import type { RateSpec } from '../units/index.ts'
import { DEFAULT_CREDENTIALS_FROM, DEFAULT_METHODS, DEFAULT_UPGRADE } from './vocabulary.ts'
import type { AuthKind, CredentialKind, CredentialSource } from './vocabulary.ts'
import { RESERVED_PREFIX, RESERVED_SEGMENT } from './reserved.ts'

/** One rule of the config's `routes:` list, as parsed (methods upper-cased, durations in ms). */
export type RouteRule = {
  path: string
  methods?: readonly string[]
  auth: AuthKind
  org_id?: OrgIdSource
  role?: string
  min_role?: string
  permission?: string
  all_permissions?: readonly string[]
  credentials?: readonly CredentialKind[]
  scopes?: readonly string[]
  issuers?: readonly string[]
  rate_limit?: RateSpec
  request_timeout?: number
  pass_credentials: boolean
  upgrade?: readonly string[]
  credentials_from?: readonly CredentialSource[]
}

/** One path segment of a route pattern; a literal's `match` is its text as compared (folded unless case-sensitive). */
type Segment = { kind: 'literal'; text: string; match: string } | { kind: 'param'; name: string }

export type OrgIdSource = { from: 'path' | 'header' | 'query'; name: string }

/** A route rule compiled at config load; the request path never re-parses config. */
export type CompiledRoute = {
  /** Position in the config file's `routes` list. */
  index: number
  pattern: string
  /** Allowed methods, HEAD included wherever GET is; the RFC 9110 set when the rule names none. */
  methods: ReadonlySet<string>
  /** Whether the rule named its methods (for display: the default set is shown as `*`). */
  listsMethods: boolean
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
  /** The route's own bound on receiving the request body, in ms (else server.request_timeout). */
  requestTimeoutMs?: number
  /** Forward the caller's Authorization / X-Api-Key even when hide_credentials is on. */
  passCredentials: boolean
  /** The HTTP/1.1 Upgrade protocols (lower-case) this route tunnels; `websocket` unless the rule says otherwise. */
  upgrade: ReadonlySet<string>
  /**
   * Where a request's credential may be read (`credentials_from`): a handshake reads exactly
   * these; any other request reads the headers and the cookies named here (never the subprotocol).
   */
  handshakeCredentials: HandshakeCredentials
  segments: readonly Segment[]
  /** True when the pattern ends in `*`: any number (zero included) of further segments. */
  rest: boolean
}

export type HandshakeCredentials = {
  /** Authorization / X-Api-Key. */
  header: boolean
  /** Cookie names that may carry the credential. */
  cookies: readonly string[]
  /** `Sec-WebSocket-Protocol: bearer, <credential>`. */
  websocketProtocol: boolean
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
  authenticated: ['token', 'service_token', 'personal_key', 'org_key', 'generic_key'],
  org_member: ['token', 'personal_key', 'org_key'],
}

const NOT_FOUND: RouteMatch = { kind: 'not-found' }

export type RouteTableOptions = {
  /**
   * Compare literal segments exactly. Off by default: `/ADMIN` must not slip past an `/admin/*`
   * rule to a weaker one when the upstream serves both as one path (Windows, macOS file systems,
   * ASP.NET, Spring with lower-casing, most CMSs).
   */
  caseSensitive: boolean
}

const DEFAULT_METHOD_SET: ReadonlySet<string> = new Set(DEFAULT_METHODS)

export class RouteTable {
  readonly routes: readonly CompiledRoute[]
  readonly caseSensitive: boolean

  constructor(routes: readonly CompiledRoute[], options: RouteTableOptions) {
    this.routes = routes
    this.caseSensitive = options.caseSensitive
  }

  /** First rule in file order whose pattern and methods fit; `path` must already be canonical. */
  match(method: string, path: string): RouteMatch {
    const parts = path.split('/')
    const compared = this.caseSensitive ? parts : parts.map(foldSegment)
    let allow: Set<string> | undefined
    for (const route of this.routes) {
      const params = matchSegments(route, parts, compared)
      if (!params) continue
      if (route.methods.has(method)) return { kind: 'matched', route, params }
      allow ??= new Set()
      for (const m of route.methods) allow.add(m)
    }
    return allow ? { kind: 'method-not-allowed', allow: [...allow] } : NOT_FOUND
  }
}

/**
 * A segment as literals are compared without case: escapes decoded (the canonical path keeps only
 * well-formed UTF-8 escapes), then lower-cased, so that `%C3%89` and `%C3%A9` compare alike too.
 */
export function foldSegment(segment: string): string {
  return segment.includes('%') ? decodeURIComponent(segment).toLowerCase() : segment.toLowerCase()
}

/**
 * `parts` is the canonical path split on `/`, so parts[0] is the empty string before the first
 * slash; `compared` is the same list as literals are compared (folded, or `parts` itself).
 */
export function matchSegments(
  route: CompiledRoute,
  parts: readonly string[],
  compared: readonly string[],
): Record<string, string> | undefined {
  const { segments, rest } = route
  const count = parts.length - 1
  if (rest ? count < segments.length : count !== segments.length) return undefined
  let params: Record<string, string> | undefined
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    const part = parts[i + 1]!
    if (segment.kind === 'literal') {
      if (compared[i + 1] !== segment.match) return undefined
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
export function compileRoutes(
  configs: readonly RouteRule[],
  options: RouteTableOptions = { caseSensitive: false },
): { table: RouteTable; problems: RouteProblem[] } {
  const problems: RouteProblem[] = []
  const routes = configs.map((config, index) => compileRoute(config, index, options, problems))
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
  return { table: new RouteTable(routes, options), problems }
}

function compileRoute(config: RouteRule, index: number, options: RouteTableOptions, problems: RouteProblem[]): CompiledRoute {
  const raw = config.path.split('/').slice(1)
  const rest = raw.at(-1) === '*'
  const segments: Segment[] = []
  const seen = new Set<string>()
  if (raw[0]?.toLowerCase() === RESERVED_SEGMENT) {
    problems.push({ index, key: 'path', message: `paths under ${RESERVED_PREFIX}/ are reserved for gatehouse's own endpoints` })
  }
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
      const decoded = decodeLiteral(text)
      if (decoded === undefined) {
        problems.push({ index, key: 'path', message: `"${text}" is not valid UTF-8 once its escapes are decoded` })
      } else if (decoded.normalize('NFKC') !== decoded) {
        problems.push({
          index,
          key: 'path',
          message: `"${text}" is not in Unicode NFKC form, so no request can match it (such paths are refused)`,
        })
      } else {
        segments.push({ kind: 'literal', text, match: options.caseSensitive ? text : foldSegment(text) })
      }
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
  let methods = DEFAULT_METHOD_SET
  if (config.methods) {
    const listed = new Set(config.methods)
    if (listed.has('GET')) listed.add('HEAD')
    methods = listed
  }
  return {
    index,
    pattern: config.path,
    methods,
    listsMethods: config.methods !== undefined,
    auth: config.auth,
    orgId,
    role: config.role,
    minRole: config.min_role,
    permissions: [...(config.permission ? [config.permission] : []), ...(config.all_permissions ?? [])],
    credentials: new Set(config.credentials ?? DEFAULT_CREDENTIALS[config.auth]),
    issuers: config.issuers ? new Set(config.issuers) : null,
    scopes: config.scopes ?? [],
    rateLimit: config.rate_limit,
    requestTimeoutMs: config.request_timeout,
    passCredentials: config.pass_credentials,
    upgrade: new Set(config.upgrade ?? DEFAULT_UPGRADE),
    handshakeCredentials: handshakeCredentials(config.credentials_from ?? DEFAULT_CREDENTIALS_FROM),
    segments,
    rest,
  }
}

function handshakeCredentials(sources: readonly CredentialSource[]): HandshakeCredentials {
  return {
    header: sources.some((s) => s.from === 'header'),
    cookies: sources.flatMap((s) => (s.from === 'cookie' ? [s.name] : [])),
    websocketProtocol: sources.some((s) => s.from === 'websocket_protocol'),
  }
}

/** Whether every request `later` can match is matched by `earlier` first (same or wider methods). */
function covers(earlier: CompiledRoute, later: CompiledRoute): boolean {
  if ([...later.methods].some((m) => !earlier.methods.has(m))) return false
  if (earlier.rest) {
    if (later.segments.length < earlier.segments.length) return false
  } else if (later.rest || later.segments.length !== earlier.segments.length) {
    return false
  }
  return earlier.segments.every((segment, i) => {
    const other = later.segments[i]!
    if (segment.kind === 'param') return other.kind === 'param' || other.text !== ''
    return other.kind === 'literal' && other.match === segment.match
  })
}

function decodeLiteral(text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}
