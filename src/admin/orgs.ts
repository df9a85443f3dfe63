import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Org, User } from '../store/index.ts'
import type { ApiContext } from './context.ts'
import { badRequest, notFound, storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import {
  addMemberBody,
  changeRoleBody,
  createOrgBody,
  memberParam,
  membership,
  org,
  orgCreated,
  orgIdParam,
  orgsPage,
  orgUsersPage,
  orgUsersQuery,
  queryOrgsQuery,
  updateOrgBody,
} from './schemas.ts'
import { pageFields, toMembership, toOrg, toUserMetadata } from './views.ts'

const tags = ['orgs']

/** PropelAuth's org management functions as REST routes under /v1/orgs. */
export function registerOrgRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { store, roles } = ctx
  const foundOrg = async (orgId: string): Promise<Org> => {
    const o = await store.getOrg(orgId)
    if (o === undefined) throw notFound(`No org with id ${orgId}`)
    return o
  }
  const knownRole = (role: string) => {
    if (!roles.knows(role)) {
      throw badRequest([{ field: 'role', message: `unknown role "${role}" (roles: ${roles.names.join(', ') || 'none defined'})` }])
    }
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs',
      tags,
      summary: 'Create an org',
      security: ADMIN_KEY,
      request: jsonBody(createOrgBody),
      responses: { 201: json('Created', orgCreated), ...problemsOf() },
    }),
    async (c) => {
      const body = c.req.valid('json')
      checkDomainRules(body)
      const created = await storeWrite(store.createOrg(body))
      ctx.changed({ kind: 'org', orgId: created.org_id })
      return c.json({ org_id: created.org_id, name: created.name }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs',
      tags,
      summary: 'Search orgs, a page at a time',
      security: ADMIN_KEY,
      request: { query: queryOrgsQuery },
      responses: { 200: json('A page of orgs', orgsPage), ...problemsOf() },
    }),
    async (c) => {
      const query = c.req.valid('query')
      const page = await store.queryOrgs(query)
      return c.json({ total_orgs: page.total, ...pageFields(query, page.total), orgs: page.items.map(toOrg) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}',
      tags,
      summary: 'Fetch an org',
      security: ADMIN_KEY,
      request: { params: orgIdParam },
      responses: { 200: json('The org', org), ...problemsOf(404) },
    }),
    async (c) => c.json(toOrg(await foundOrg(c.req.valid('param').org_id)), 200),
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/orgs/{org_id}',
      tags,
      summary: 'Update an org: null clears domain or max_users, an absent field stays, metadata is replaced',
      description: 'A lower max_users or a new domain rule applies to members added from now on; current members stay.',
      security: ADMIN_KEY,
      request: { params: orgIdParam, ...jsonBody(updateOrgBody) },
      responses: { 200: json('The updated org', org), ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id } = c.req.valid('param')
      const patch = c.req.valid('json')
      checkDomainRules({ ...(await foundOrg(org_id)), ...patch })
      const updated = await storeWrite(store.updateOrg(org_id, patch))
      if (updated === undefined) throw notFound(`No org with id ${org_id}`)
      ctx.changed({ kind: 'org', orgId: org_id })
      return c.json(toOrg(updated), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}',
      tags,
      summary: 'Delete an org and its memberships',
      security: ADMIN_KEY,
      request: { params: orgIdParam },
      responses: { 204: { description: 'Deleted' }, ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id } = c.req.valid('param')
      if (!(await store.deleteOrg(org_id))) throw notFound(`No org with id ${org_id}`)
      ctx.changed({ kind: 'org', orgId: org_id })
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org_id}/users',
      tags,
      summary: "An org's members, in the order they joined, each with their role",
      security: ADMIN_KEY,
      request: { params: orgIdParam, query: orgUsersQuery },
      responses: { 200: json('A page of members', orgUsersPage), ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id } = c.req.valid('param')
      const { include_orgs, ...query } = c.req.valid('query')
      await foundOrg(org_id)
      const page = await store.listOrgMembers(org_id, query)
      const users = await Promise.all(
        page.items.map(async ({ user, membership: m }) => ({ ...(await toUserMetadata(store, roles, user, include_orgs)), role: m.role })),
      )
      return c.json({ total_users: page.total, ...pageFields(query, page.total), users }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org_id}/members',
      tags,
      summary: 'Add a user to an org with a role',
      description:
        'The role must be one the config defines. 409 when the user is already a member or the org has max_users members; 400 when the org requires a matching email domain and the user has another.',
      security: ADMIN_KEY,
      request: { params: orgIdParam, ...jsonBody(addMemberBody) },
      responses: { 201: json('The membership', membership), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { org_id } = c.req.valid('param')
      const { user_id, role } = c.req.valid('json')
      knownRole(role)
      const o = await foundOrg(org_id)
      const user = await store.getUser(user_id)
      if (user === undefined) throw notFound(`No user with id ${user_id}`)
      checkMemberDomain(o, user)
      const added = await storeWrite(store.addMember(org_id, user_id, role), { membership: 'user_id' })
      ctx.changed({ kind: 'membership', orgId: org_id, userId: user_id })
      return c.json(toMembership(added), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org_id}/members/{user_id}',
      tags,
      summary: "Change a member's role",
      security: ADMIN_KEY,
      request: { params: memberParam, ...jsonBody(changeRoleBody) },
      responses: { 200: json('The membership', membership), ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id, user_id } = c.req.valid('param')
      const { role } = c.req.valid('json')
      knownRole(role)
      const changed = await store.changeRole(org_id, user_id, role)
      if (changed === undefined) throw notFound(`User ${user_id} is not a member of org ${org_id}`)
      ctx.changed({ kind: 'membership', orgId: org_id, userId: user_id })
      return c.json(toMembership(changed), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/members/{user_id}',
      tags,
      summary: 'Remove a user from an org',
      description: 'Archives the org API keys the user created with revoke_on_creator_leave.',
      security: ADMIN_KEY,
      request: { params: memberParam },
      responses: { 204: { description: 'Removed' }, ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id, user_id } = c.req.valid('param')
      if (!(await store.removeMember(org_id, user_id))) throw notFound(`User ${user_id} is not a member of org ${org_id}`)
      ctx.changed({ kind: 'membership', orgId: org_id, userId: user_id })
      // Org keys this user created with revoke_on_creator_leave stop with the membership.
      for (const apiKeyId of await store.archiveKeysOfDepartedCreator(org_id, user_id, 'creator left the org')) {
        ctx.changed({ kind: 'api_key', apiKeyId, orgId: org_id, userId: user_id })
      }
      return c.body(null, 204)
    },
  )
}

type DomainRules = { domain?: string | null; enable_auto_joining_by_domain?: boolean; members_must_have_matching_domain?: boolean }

/** Both domain rules compare members' emails with the org's domain, so neither makes sense without one. */
function checkDomainRules(o: DomainRules): void {
  if (o.domain) return
  const rule = o.members_must_have_matching_domain
    ? 'members_must_have_matching_domain'
    : o.enable_auto_joining_by_domain
      ? 'enable_auto_joining_by_domain'
      : undefined
  if (rule !== undefined) throw badRequest([{ field: 'domain', message: `${rule} needs a domain` }])
}

function checkMemberDomain(o: Org, user: User): void {
  if (!o.members_must_have_matching_domain || o.domain === null) return
  const userDomain = user.email.slice(user.email.lastIndexOf('@') + 1).toLowerCase()
  if (userDomain !== o.domain.toLowerCase()) {
    throw badRequest([
      { field: 'user_id', message: `org ${o.org_id} only admits members with an @${o.domain} email; this user's is @${userDomain}` },
    ])
  }
}
