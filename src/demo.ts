import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { loadConfig } from './config/index.ts'
import { startGatehouse } from './server.ts'

/**
 * `gatehouse demo` / `npm run demo`: an echo upstream that shows the identity it received,
 * gatehouse in front of it with a temporary store and its own token issuer, a demo user who is
 * a Member of a demo org, a fresh token, and curl commands to paste. Runs until Ctrl-C.
 */
export async function runDemo(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-demo-'))
  const upstream = createServer((req, res) => {
    const identity = Object.fromEntries(
      Object.entries(req.headers).filter(([name]) => name.startsWith('x-gatehouse-') && name !== 'x-gatehouse-assertion'),
    )
    const assertion = req.headers['x-gatehouse-assertion']
    const claims =
      typeof assertion === 'string' ? JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()) : undefined
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ upstream: 'echo', method: req.method, path: req.url, identity, assertion_claims: claims }, null, 2) + '\n')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const adminKey = randomBytes(24).toString('base64url')
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(
    file,
    stringify({
      server: { listen: '127.0.0.1:0' },
      upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
      admin: { listen: '127.0.0.1:0', api_key: adminKey },
      store: { url: 'sqlite:./demo.db' },
      roles: [
        { name: 'Owner', permissions: ['can_view_billing', 'can_manage_api_keys'] },
        { name: 'Admin', permissions: ['can_manage_api_keys'] },
        { name: 'Member', permissions: [] },
      ],
      tokens: { local_issuer: true },
      log: { level: 'warn' },
      routes: [
        { path: '/api/whoami', auth: 'user' },
        { path: '/api/limited', auth: 'user', rate_limit: '3/1m' },
        { path: '/org/:org_id/check', auth: 'org_member' },
        { path: '/org/:org_id/billing', auth: 'org_member', permission: 'can_view_billing' },
      ],
    }),
  )
  const running = await startGatehouse(loadConfig(file))
  const gateway = `http://127.0.0.1:${running.gateway.port}`
  const admin = `http://127.0.0.1:${running.admin.port}`
  try {
    const call = async (path: string, body: unknown) => {
      const res = await fetch(admin + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return (await res.json()) as Record<string, string>
    }
    const { user_id } = await call('/v1/users', { email: 'ada@example.com', username: 'ada', first_name: 'Ada', email_confirmed: true })
    const { org_id } = await call('/v1/orgs', { name: 'Acme' })
    await call(`/v1/orgs/${org_id}/members`, { user_id, role: 'Member' })
    const { access_token } = await call('/v1/access_tokens', { user_id, duration_in_minutes: 60 })

    console.log(`gatehouse demo — gateway ${gateway}, admin ${admin}
Ada (${user_id}) is a Member of Acme (${org_id}). Paste these:

  TOKEN=${access_token}

  # allowed: the echo upstream shows the identity gatehouse forwarded
  curl -s ${gateway}/api/whoami -H "Authorization: Bearer $TOKEN"
  curl -s ${gateway}/org/${org_id}/check -H "Authorization: Bearer $TOKEN"

  # 401 without a token, 403 without the permission (Members cannot view billing)
  curl -s ${gateway}/api/whoami
  curl -s ${gateway}/org/${org_id}/billing -H "Authorization: Bearer $TOKEN"

  # rate-limited: the 4th call within a minute gets 429 with wait_seconds
  for i in 1 2 3 4; do curl -s -o /dev/null -w "%{http_code}\\n" ${gateway}/api/limited -H "Authorization: Bearer $TOKEN"; done

  # the admin API (key for this run only)
  curl -s ${admin}/v1/users/${user_id}?include_orgs=true -H "Authorization: Bearer ${adminKey}"
  curl -s -X POST ${admin}/v1/users/${user_id}/disable -H "Authorization: Bearer ${adminKey}"   # then whoami → 401

Ctrl-C stops the demo and deletes its temporary store.`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
  } finally {
    await running.close()
    await new Promise<void>((resolve) => upstream.close(() => resolve()))
    rmSync(dir, { recursive: true, force: true })
  }
  return 0
}
