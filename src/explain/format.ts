import type { Explanation } from './explain.ts'

// `not evaluated`, the longest verdict: the checks' names line up under each other.
const VERDICT_WIDTH = 13

/** An explanation for people: one stage a paragraph, in the order the decision runs them. */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.method} ${e.target}`]
  lines.push(e.canonicalPath === undefined ? '  path: not canonical (refused before any rule)' : `  canonical path: ${e.canonicalPath}`)
  lines.push('rules:')
  if (e.rules.length === 0) lines.push('  none walked')
  for (const rule of e.rules) {
    lines.push(
      rule.matched
        ? `  #${rule.index} ${rule.pattern}: matched${paramsText(rule.params)}`
        : `  #${rule.index} ${rule.pattern}: no (${rule.why}: ${rule.detail})`,
    )
  }
  if (e.route) lines.push(`route: #${e.route.index} ${e.route.pattern} (auth: ${e.route.auth})`)
  else if (e.canonicalPath !== undefined && !e.rules.some((rule) => rule.matched)) lines.push('route: none matches (denied by default)')
  lines.push(`credential: ${e.credential === 'none' ? 'none sent' : e.credential}`)
  if (e.identity) lines.push(`identity: ${identityText(e.identity)}`)
  else if (e.credential !== 'none' && e.refusal) lines.push(`identity: none (${e.refusal.reason})`)
  const { authorization } = e
  lines.push(`authorization: ${authorization.verdict.replace('_', ' ')}${authorization.detail ? `: ${authorization.detail}` : ''}`)
  for (const c of authorization.checks) {
    lines.push(`  ${c.verdict.replace('_', ' ').padEnd(VERDICT_WIDTH)} ${c.check}: ${c.description}${c.detail ? ` (${c.detail})` : ''}`)
  }
  if (e.budgets === undefined) lines.push('budgets: not reached')
  else if (e.budgets.length === 0) lines.push('budgets: none apply')
  else {
    lines.push('budgets (not spent):')
    for (const b of e.budgets) {
      const verdict = b.allowed ? 'would allow' : `would refuse, retry in ${b.waitSeconds}s`
      lines.push(`  ${b.name}: ${b.remaining}/${b.limit} left, ${verdict}`)
    }
  }
  const { answer } = e
  lines.push(
    answer.forwarded
      ? `answer: ${answer.status}, forwarded to the upstream (not contacted)`
      : `answer: ${answer.status} ${answer.problem?.title ?? ''}${e.refusal ? ` (${e.refusal.reason})` : ''}${answer.problem?.detail ? `: ${answer.problem.detail}` : ''}`,
  )
  return lines.join('\n')
}

function paramsText(params: Record<string, string>): string {
  const entries = Object.entries(params)
  return entries.length === 0 ? '' : ` (${entries.map(([name, value]) => `${name}=${value}`).join(', ')})`
}

function identityText(identity: NonNullable<Explanation['identity']>): string {
  const who = identity.user?.userId ? `user ${identity.user.userId}` : identity.org ? `org ${identity.org.orgId}` : identity.principal
  const via =
    identity.method === 'api_key'
      ? `api key ${identity.apiKey?.id ?? ''}`.trim()
      : `token${identity.verifiedBy ? ` from ${identity.verifiedBy}` : ''}`
  const orgs = Object.values(identity.orgs).map((m) => `${m.orgName || m.orgId}:${m.role}`)
  return `${who} via ${via}${orgs.length > 0 ? `; orgs ${orgs.join(', ')}` : ''}`
}
