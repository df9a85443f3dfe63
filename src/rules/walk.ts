import { foldSegment, matchSegments } from './route-table.ts'
import type { CompiledRoute, RouteTable } from './route-table.ts'

/** How one rule of the table met a request, in file order, up to the rule that matched it. */
export type RuleVerdict =
  | { index: number; pattern: string; matched: true; params: Record<string, string> }
  | { index: number; pattern: string; matched: false; why: 'method'; detail: string }
  | { index: number; pattern: string; matched: false; why: 'path'; detail: string }

/**
 * Walks the table as `RouteTable.match` does and says, rule by rule, why each rule before the
 * matching one did not match: the path (which segment, and what it wanted) or the method. The
 * walk stops at the first rule whose path and method fit, which is the one `match` returns;
 * `path` must already be canonical.
 */
export function walkRoutes(table: RouteTable, method: string, path: string): RuleVerdict[] {
  const parts = path.split('/')
  const compared = table.caseSensitive ? parts : parts.map(foldSegment)
  const verdicts: RuleVerdict[] = []
  for (const route of table.routes) {
    const { index, pattern } = route
    const params = matchSegments(route, parts, compared)
    if (!params) {
      verdicts.push({ index, pattern, matched: false, why: 'path', detail: pathMismatch(route, parts, compared) })
    } else if (!route.methods.has(method)) {
      verdicts.push({ index, pattern, matched: false, why: 'method', detail: `${method} is not one of ${[...route.methods].join(', ')}` })
    } else {
      verdicts.push({ index, pattern, matched: true, params })
      break
    }
  }
  return verdicts
}

/** Why matchSegments refused: the first segment that differs, else the segment count. */
function pathMismatch(route: CompiledRoute, parts: readonly string[], compared: readonly string[]): string {
  const { segments, rest } = route
  const count = parts.length - 1
  for (let i = 0; i < Math.min(segments.length, count); i++) {
    const segment = segments[i]!
    const part = parts[i + 1]!
    if (segment.kind === 'literal' && compared[i + 1] !== segment.match) {
      return `segment ${i + 1} is "${part}", the rule wants "${segment.text}"`
    }
    if (segment.kind === 'param' && part === '') return `segment ${i + 1} is empty, :${segment.name} needs a value`
  }
  const wanted = rest ? `at least ${segments.length}` : String(segments.length)
  return `the path has ${count} ${count === 1 ? 'segment' : 'segments'}, the rule wants ${wanted}`
}

/** A rule's authorization requirements as short phrases (`role>=Admin`, `credentials=token,org_key`), for people. */
export function describeRequirements(route: CompiledRoute): string[] {
  const parts: string[] = []
  if (route.auth === 'org_member') parts.push(`org from ${route.orgId.from}:${route.orgId.name}`)
  if (route.role) parts.push(`role=${route.role}`)
  if (route.minRole) parts.push(`role>=${route.minRole}`)
  if (route.permissions.length > 0) parts.push(`permissions=${route.permissions.join('+')}`)
  if (route.auth !== 'none') parts.push(`credentials=${[...route.credentials].join(',')}`)
  if (route.issuers) parts.push(`issuers=${[...route.issuers].join(',')}`)
  if (route.scopes.length > 0) parts.push(`scopes=${route.scopes.join(',')}`)
  return parts
}
