import { Hono } from 'hono'
import type { JSONWebKeySet } from 'jose'
import { problems, PROBLEM_CONTENT_TYPE, problemBody } from '../http/index.ts'

export type ReadinessCheck = { name: string; ready(): boolean; detail?(): unknown }

export type AdminDeps = {
  jwks(): JSONWebKeySet
  checks: readonly ReadinessCheck[]
}

/**
 * The admin listener: probes and the assertion keys. It binds to loopback by default; the
 * management API that needs the admin key arrives with the identity backend.
 */
export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono()
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) => {
    const checks = Object.fromEntries(
      deps.checks.map((check) => [check.name, { ready: check.ready(), ...(check.detail ? { detail: check.detail() } : {}) }]),
    )
    const ready = Object.values(checks).every((check) => check.ready)
    return c.json({ status: ready ? 'ready' : 'not_ready', checks }, ready ? 200 : 503)
  })
  app.get('/.well-known/jwks.json', (c) => {
    c.header('cache-control', 'public, max-age=300')
    return c.json(deps.jwks())
  })
  app.notFound(
    () => new Response(problemBody(problems.notFound('No such admin endpoint')), { status: 404, headers: { 'content-type': PROBLEM_CONTENT_TYPE } }),
  )
  app.onError(
    () => new Response(problemBody(problems.internal()), { status: 500, headers: { 'content-type': PROBLEM_CONTENT_TYPE } }),
  )
  return app
}
