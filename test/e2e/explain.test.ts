import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/** An explanation's authorization checks as `check verdict[: detail]`. */
function checksOf(body: Record<string, unknown>): string[] {
  const { checks } = body.authorization as { checks: { check: string; verdict: string; detail?: string }[] }
  return checks.map(({ check, verdict, detail }) => `${check} ${verdict}${detail ? `: ${detail}` : ''}`)
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ADMIN_KEY = 'explain-admin-key-0123456789'

/** Runs `gatehouse explain` in a child process, as an operator would: stdout, stderr and the exit code. */
function explainCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'explain', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })))
}

describe('explain', () => {
  let upstream: TestUpstream
  let gw: TestGateway
  let token: string
  let orgId: string
  let otherOrgId: string
  const api = adminClient(() => gw.adminUrl, ADMIN_KEY)
  const explain = (body: Record<string, unknown>) => api('POST', '/v1/explain', body)

  before(async () => {
    upstream = await startUpstream()
    gw = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./gatehouse.db' },
      tokens: { local_issuer: true },
      routes: [
        { path: '/public', auth: 'none' },
        { path: '/orgs/:org_id/admin', auth: 'org_member', role: 'Admin', methods: ['GET'] },
        { path: '/orgs/:org_id/owner', auth: 'org_member', min_role: 'Owner' },
        { path: '/limited', auth: 'user', rate_limit: '2/1m' },
        { path: '/orgs/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
        { path: '/orgs/:org_id/keys', auth: 'org_member', credentials: ['token'] },
        { path: '/orgs/:org_id/reports', auth: 'org_member', scopes: ['reports:read'] },
      ],
    })
    const user = await api('POST', '/v1/users', { email: 'ada@example.com' })
    const org = await api('POST', '/v1/orgs', { name: 'Acme' })
    orgId = String(org.body.org_id)
    otherOrgId = String((await api('POST', '/v1/orgs', { name: 'Elsewhere' })).body.org_id)
    assert.ok((await api('POST', `/v1/orgs/${orgId}/members`, { user_id: user.body.user_id, role: 'Admin' })).status < 300)
    token = String((await api('POST', '/v1/access_tokens', { user_id: user.body.user_id, duration_in_minutes: 30 })).body.access_token)
  })
  after(async () => {
    await gw.close()
    await upstream.close()
  })

  it('needs the admin key', async () => {
    assert.equal((await api('POST', '/v1/explain', { path: '/public' }, 'not-the-admin-key-at-all')).status, 401)
  })

  it('explains an allowed request: the rules walked, the identity, the authorization passed, the answer', async () => {
    const seen = upstream.received.length
    const { status, body } = await explain({ method: 'get', path: `/orgs/${orgId}/./admin?x=1`, token })
    assert.equal(status, 200)
    assert.equal(body.canonicalPath, `/orgs/${orgId}/admin`)
    assert.deepEqual(body.rules, [
      { index: 0, pattern: '/public', matched: false, why: 'path', detail: 'segment 1 is "orgs", the rule wants "public"' },
      { index: 1, pattern: '/orgs/:org_id/admin', matched: true, params: { org_id: orgId } },
    ])
    assert.equal((body.identity as { user: { email: string } }).user.email, 'ada@example.com')
    assert.equal((body.identity as { verifiedBy: string }).verifiedBy, 'local')
    assert.deepEqual(body.authorization, {
      verdict: 'passed',
      checks: [
        { check: 'credential_kind', description: 'the credential is one of token, personal_key, org_key', verdict: 'passed' },
        { check: 'org_id', description: "the request names an org in the path's :org_id", verdict: 'passed' },
        { check: 'membership', description: 'the caller is a member of that org', verdict: 'passed' },
        { check: 'role', description: "the caller's role in the org is Admin", verdict: 'passed' },
      ],
    })
    assert.deepEqual(body.answer, { status: 200, forwarded: true })
    assert.equal(upstream.received.length, seen, 'the upstream is not contacted')
    assert.ok(!JSON.stringify(gw.logs).includes(token), 'the token is never logged')
  })

  it('explains a request without a credential: 401 with its reason', async () => {
    const { body } = await explain({ path: `/orgs/${orgId}/admin` })
    assert.equal(body.credential, 'none')
    assert.deepEqual(body.refusal, { reason: 'no_credential', detail: (body.refusal as { detail?: string }).detail })
    assert.equal((body.answer as { status: number }).status, 401)
    assert.equal((body.authorization as { verdict: string }).verdict, 'not_reached')
    assert.deepEqual(checksOf(body), [
      'credential_kind not_evaluated',
      'org_id not_evaluated',
      'membership not_evaluated',
      'role not_evaluated',
    ])
  })

  it('explains a refused token with its reason code', async () => {
    const { body } = await explain({ path: `/orgs/${orgId}/admin`, token: `${token.slice(0, -4)}AAAA` })
    assert.equal((body.refusal as { reason: string }).reason, 'invalid_token')
    assert.equal(body.identity, undefined)
  })

  it('explains a wrong role: the role check failed, 403', async () => {
    const { body } = await explain({ path: `/orgs/${orgId}/owner`, token })
    assert.equal((body.route as { index: number }).index, 2)
    const authorization = body.authorization as { verdict: string; detail: string }
    assert.equal(authorization.verdict, 'failed')
    assert.equal(authorization.detail, "User doesn't have required role")
    assert.deepEqual(checksOf(body), [
      'credential_kind passed',
      'org_id passed',
      'membership passed',
      "min_role failed: User doesn't have required role",
    ])
    assert.equal((body.refusal as { reason: string }).reason, 'forbidden')
    assert.equal((body.answer as { status: number }).status, 403)
    // The method walk: POST is not allowed on the GET-only rule, and no other rule takes it.
    const post = await explain({ method: 'POST', path: `/orgs/${orgId}/admin`, token })
    assert.equal((post.body.rules as { why?: string }[])[1]!.why, 'method')
    assert.equal((post.body.answer as { status: number }).status, 405)
  })

  it('explains a missing permission: the permissions check failed, the others passed', async () => {
    const { body } = await explain({ path: `/orgs/${orgId}/billing`, token })
    assert.deepEqual(checksOf(body), [
      'credential_kind passed',
      'org_id passed',
      'membership passed',
      "permissions failed: User doesn't have required permission",
    ])
    assert.equal((body.answer as { status: number }).status, 403)
  })

  it('explains a caller who is not a member: the membership failed, the role check not evaluated', async () => {
    const { body } = await explain({ path: `/orgs/${otherOrgId}/admin`, token })
    assert.deepEqual(checksOf(body), [
      'credential_kind passed',
      'org_id passed',
      `membership failed: User is not a member of org ${otherOrgId}`,
      'role not_evaluated: membership failed',
    ])
    assert.equal((body.refusal as { reason: string }).reason, 'forbidden')
  })

  it('explains an API key without the scopes and one of a kind the route does not take', async () => {
    const created = await api('POST', '/v1/api_keys', { org_id: orgId, scopes: ['reports:write'] })
    assert.equal(created.status, 201)
    const key = String(created.body.api_key_token)
    const scoped = await explain({ path: `/orgs/${orgId}/reports`, api_key: key })
    assert.deepEqual(checksOf(scoped.body), [
      'credential_kind passed',
      "scopes failed: API key doesn't have the required scopes",
      'org_id passed',
      'membership passed',
    ])
    assert.equal((scoped.body.answer as { status: number }).status, 403)
    const kind = await explain({ path: `/orgs/${orgId}/keys`, api_key: key })
    assert.deepEqual(checksOf(kind.body), [
      'credential_kind failed: This route does not accept this kind of credential',
      'org_id passed',
      'membership passed',
    ])
    assert.equal((kind.body.authorization as { detail: string }).detail, 'This route does not accept this kind of credential')
  })

  it('explains an API key: the identity from the store, and a refused key with its reason', async () => {
    const created = await api('POST', '/v1/api_keys', { org_id: orgId })
    assert.equal(created.status, 201)
    const key = String(created.body.api_key_token)
    const { body } = await explain({ path: `/orgs/${orgId}/admin`, api_key: key })
    assert.equal(body.credential, 'api_key')
    const identity = body.identity as { method: string; apiKey: { id: string } }
    assert.equal(identity.method, 'api_key')
    assert.equal(identity.apiKey.id, created.body.api_key_id)
    assert.ok(!JSON.stringify(body).includes(key), 'the key is not echoed')
    assert.equal((await api('POST', `/v1/api_keys/${String(created.body.api_key_id)}/archive`)).status, 200)
    const archived = await explain({ path: `/orgs/${orgId}/admin`, api_key: key })
    assert.equal((archived.body.refusal as { reason: string }).reason, 'invalid_api_key')
    assert.equal((archived.body.answer as { status: number }).status, 401)
  })

  it('reports budgets without spending them: a real request after explaining is still allowed', async () => {
    const real = () => fetch(`${gw.url}/limited`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)
    assert.equal(await real(), 200)
    for (let i = 0; i < 3; i++) {
      const { body } = await explain({ path: '/limited', token })
      assert.deepEqual(
        (body.budgets as { name: string; allowed: boolean; remaining: number }[]).map(({ name, allowed, remaining }) => ({
          name,
          allowed,
          remaining,
        })),
        // remaining counts as a real request's RateLimit-Remaining would: after this one.
        [{ name: 'route', allowed: true, remaining: 0 }],
        'explaining spends nothing',
      )
    }
    assert.equal(await real(), 200, 'the budget the explanations did not spend')
    const { body } = await explain({ path: '/limited', token })
    assert.equal((body.refusal as { reason: string }).reason, 'rate_limited')
    assert.equal((body.answer as { status: number }).status, 429)
    assert.equal((body.budgets as { allowed: boolean }[])[0]!.allowed, false)
    assert.equal(await real(), 429, 'the real budget agrees')
  })

  it('gatehouse explain prints the same explanation for people and, with --json, for scripts', { timeout: 60_000 }, async () => {
    const config = join(gw.dir, 'gatehouse.yaml')
    const text = await explainCli(['--config', config, '--method', 'GET', `/orgs/${orgId}/owner`, '--token', token])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /#0 \/public: no \(path: segment 1 is "orgs", the rule wants "public"\)/)
    assert.match(text.stdout, /#2 \/orgs\/:org_id\/owner: matched/)
    assert.match(text.stdout, /identity: user [\w-]+ via token from local; orgs Acme:Admin/)
    assert.match(text.stdout, /authorization: failed: User doesn't have required role\n/)
    assert.match(text.stdout, /\n {2}passed {8}membership: the caller is a member of that org\n/)
    assert.match(
      text.stdout,
      /\n {2}failed {8}min_role: the caller's role in the org is Owner or above \(User doesn't have required role\)\n/,
    )
    assert.match(text.stdout, /answer: 403 Forbidden \(forbidden\)/)
    assert.ok(!text.stdout.includes(token))

    const json = await explainCli(['--config', config, '/public', '--json', '--header', 'X-Request-Id: abc'])
    assert.equal(json.code, 0, json.stderr)
    const parsed = JSON.parse(json.stdout) as { answer: { status: number }; authorization: { verdict: string } }
    assert.deepEqual(parsed.answer, { status: 200, forwarded: true })
    assert.equal(parsed.authorization.verdict, 'none')

    const wrong = await explainCli(['--config', config, 'no-slash'])
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /give one PATH starting with \//)
  })
})
