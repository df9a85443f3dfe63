import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { ApiContext } from './context.ts'
import { storeWrite } from './errors.ts'
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
  const { store, roles, orgs } = ctx.directory

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
      const created = await storeWrite(orgs.create(c.req.valid('json')))
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
    async (c) => c.json(toOrg(await orgs.get(c.req.valid('param').org_id)), 200),
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
      const updated = await storeWrite(orgs.update(c.req.valid('param').org_id, c.req.valid('json')))
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
      await orgs.delete(c.req.valid('param').org_id)
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
      await orgs.get(org_id)
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
      const added = await storeWrite(orgs.addMember(org_id, user_id, role), { membership: 'user_id' })
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
      return c.json(toMembership(await orgs.changeRole(org_id, user_id, role)), 200)
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
      await orgs.removeMember(org_id, user_id)
      return c.body(null, 204)
    },
  )
}
