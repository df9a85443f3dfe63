import { pathToFileURL } from 'node:url'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createVerifier } from '../../src/upstream/index.ts'
import type { Verifier } from '../../src/upstream/index.ts'
import { requireOrgMember, requireUser } from '../../src/upstream/hono.ts'
import type { GatehouseEnv } from '../../src/upstream/hono.ts'

/** A small service behind gatehouse: it trusts only the signed assertion, never the plain headers. */
export function createApp(verifier: Verifier): Hono<GatehouseEnv> {
  const app = new Hono<GatehouseEnv>()
  app.get('/healthz', (c) => c.json({ ok: true }))
  app.get('/api/whoami', requireUser(verifier), (c) => {
    const user = c.get('currentUser')!
    return c.json({ userId: user.userId, email: user.email ?? null, orgs: Object.keys(user.orgIdToOrgMemberInfo) })
  })
  app.get('/org/:org_id/admin', requireOrgMember(verifier, { minRole: 'Admin' }), (c) => {
    const user = c.get('currentUser')!
    const org = c.get('currentOrg')!
    return c.json({ userId: user.userId, orgId: org.orgId, orgName: org.orgName, role: org.role })
  })
  return app
}

function main(): void {
  const jwksUrl = process.env.GATEHOUSE_JWKS_URL
  if (!jwksUrl) {
    console.error('GATEHOUSE_JWKS_URL is required (the gateway admin /.well-known/jwks.json)')
    process.exit(1)
  }
  const port = Number(process.env.PORT ?? 3000)
  const app = createApp(createVerifier({ jwksUrl }))
  // Localhost only: in the sidecar pattern only gatehouse may reach this service.
  serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, (info) => {
    console.log(`hono-upstream listening on http://127.0.0.1:${info.port}`)
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main()
