import assert from 'node:assert/strict'
import { createAdminApp } from '../../src/admin/index.ts'
import type { AccessTokenIssuer, DirectoryChange } from '../../src/directory/index.ts'
import type { AdminDeps } from '../../src/admin/index.ts'
import { createRoleTable } from '../../src/identity/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type * as schemas from '../../src/admin/schemas.ts'
import type { z } from '@hono/zod-openapi'
import type { Store } from '../../src/store/index.ts'

export const ADMIN_KEY = 'admin-key-for-tests-0123456789'

export const ROLES = createRoleTable([
  { name: 'Owner', permissions: ['can_view_billing'] },
  { name: 'Admin', permissions: ['can_manage_api_keys'] },
  { name: 'Member', permissions: ['can_read'] },
])

export type MintInput = Parameters<AccessTokenIssuer['mint']>[0]

export type Problem = { type: string; title: string; status: number; detail?: string; errors?: { field: string; message: string }[] }
export type UserMetadata = z.infer<typeof schemas.userMetadata>
export type OrgView = z.infer<typeof schemas.org>
export type UsersPage = z.infer<typeof schemas.usersPage>
export type OrgsPage = z.infer<typeof schemas.orgsPage>
export type OrgUsersPage = z.infer<typeof schemas.orgUsersPage>
export type MembershipView = z.infer<typeof schemas.membership>

/** `body` is typed by the caller: the shape the API's own schema promises for that answer. */
export type Reply<T = Problem> = { status: number; contentType: string | null; headers: Headers; body: T; text: string }

export type Harness = {
  store: Store
  app: ReturnType<typeof createAdminApp>
  changes: DirectoryChange[]
  minted: MintInput[]
  /** Set to make the stub issuer reject its next calls. */
  mintFailure: { error?: unknown }
  /** An authenticated JSON request. */
  call<T = Problem>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>>
  createUser(email: string, extra?: Record<string, unknown>): Promise<string>
  createOrg(name: string, extra?: Record<string, unknown>): Promise<string>
  addMember(orgId: string, userId: string, role: string): Promise<void>
  close(): Promise<void>
}

/** The admin app over a real in-memory SQLite store, a stub issuer that records its calls, and the events it emits. */
export async function harness(deps: Partial<AdminDeps> = {}): Promise<Harness> {
  const store = await createSqliteStore(':memory:')
  const changes: DirectoryChange[] = []
  const minted: MintInput[] = []
  const mintFailure: { error?: unknown } = {}
  const tokens: AccessTokenIssuer = {
    async mint(input) {
      minted.push(input)
      if (mintFailure.error !== undefined) throw mintFailure.error
      return `token:${input.userId}:${input.durationMinutes}:${input.activeOrgId ?? '-'}`
    },
  }
  const app = createAdminApp({
    jwks: () => ({ keys: [] }),
    checks: [],
    apiKey: ADMIN_KEY,
    store,
    roles: ROLES,
    tokens,
    onChange: (event) => changes.push(event),
    ...deps,
  })
  const call: Harness['call'] = <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    send<T>(app, path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const h: Harness = {
    store,
    app,
    changes,
    minted,
    mintFailure,
    call,
    async createUser(email, extra = {}) {
      const reply = await call<{ user_id: string }>('POST', '/v1/users', { email, ...extra })
      assert.equal(reply.status, 201, reply.text)
      return reply.body.user_id
    },
    async createOrg(name, extra = {}) {
      const reply = await call<{ org_id: string }>('POST', '/v1/orgs', { name, ...extra })
      assert.equal(reply.status, 201, reply.text)
      return reply.body.org_id
    },
    async addMember(orgId, userId, role) {
      const reply = await call('POST', `/v1/orgs/${orgId}/members`, { user_id: userId, role })
      assert.equal(reply.status, 201, reply.text)
    },
    close: () => store.close(),
  }
  return h
}

type Requestable = { request(path: string, init?: RequestInit): Response | Promise<Response> }

export async function send<T = Problem>(app: Requestable, path: string, init: RequestInit = {}): Promise<Reply<T>> {
  const res = await app.request(path, init)
  const text = await res.text()
  const contentType = res.headers.get('content-type')
  const body = (text && contentType?.includes('json') ? JSON.parse(text) : undefined) as T
  return { status: res.status, contentType, headers: res.headers, text, body }
}

/** Asserts a problem+json answer with this status; for 400 and 409, that `field` is among the named fields. */
export function assertProblem<T>(reply: Reply<T>, status: number, field?: string): asserts reply is Reply<T & Problem> {
  const body = reply.body as Problem
  assert.equal(reply.status, status, reply.text)
  assert.equal(reply.contentType, 'application/problem+json')
  assert.equal(body.status, status)
  assert.match(body.type, /^urn:gatehouse:problem:/)
  if (field !== undefined) {
    const fields = (body.errors ?? []).map((e) => e.field)
    assert.ok(fields.includes(field), `expected ${field} among ${JSON.stringify(fields)}`)
    assert.match(body.detail ?? '', new RegExp(`${field}:`))
  }
}
