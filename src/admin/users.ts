import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { User, UserPatch } from '../store/index.ts'
import { NO_EFFECT_FIELDS } from '../propelauth/index.ts'
import type { ApiContext } from './context.ts'
import { storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import {
  batchUsersBody,
  batchUsersResponse,
  createUserBody,
  emailParam,
  includeOrgsQuery,
  migrateUserBody,
  queryUsersQuery,
  setPasswordBody,
  updateEmailBody,
  updateUserBody,
  userIdParam,
  userIdResponse,
  userMetadata,
  usernameParam,
  usersPage,
} from './schemas.ts'
import { pageFields, toUserMetadata } from './views.ts'
import type { UserMetadata } from './views.ts'

const tags = ['users']

/** PropelAuth's user management functions as REST routes under /v1/users. */
export function registerUserRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { store, roles, users } = ctx.directory
  const view = (user: User, includeOrgs = false) => toUserMetadata(store, roles, user, includeOrgs)

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users',
      tags,
      summary: 'Create a user, with or without a password',
      security: ADMIN_KEY,
      request: jsonBody(createUserBody),
      responses: { 201: json('Created', userIdResponse), ...problemsOf(409) },
    }),
    async (c) => {
      const { ask_user_to_update_password_on_login, ...rest } = withoutNoOps(c.req.valid('json'))
      const user = await storeWrite(users.create({ ...rest, update_password_required: ask_user_to_update_password_on_login }))
      return c.json({ user_id: user.user_id }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/migrate',
      tags,
      summary: 'Create a user that exists in another system, keeping its id as legacy_user_id',
      security: ADMIN_KEY,
      request: jsonBody(migrateUserBody),
      responses: { 201: json('Created', userIdResponse), ...problemsOf(409) },
    }),
    async (c) => {
      const { existing_user_id, ask_user_to_update_password_on_login, ...rest } = withoutNoOps(c.req.valid('json'))
      const input = { ...rest, legacy_user_id: existing_user_id ?? null, update_password_required: ask_user_to_update_password_on_login }
      const user = await storeWrite(users.create(input), {
        legacy_user_id: 'existing_user_id',
      })
      return c.json({ user_id: user.user_id }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users',
      tags,
      summary: 'Search users, a page at a time',
      security: ADMIN_KEY,
      request: { query: queryUsersQuery },
      responses: { 200: json('A page of users', usersPage), ...problemsOf() },
    }),
    async (c) => {
      const { include_orgs, ...query } = c.req.valid('query')
      const page = await store.queryUsers(query)
      const users = await Promise.all(page.items.map((u) => view(u, include_orgs)))
      return c.json({ total_users: page.total, ...pageFields(query, page.total), users }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/batch',
      tags,
      summary: 'Fetch many users by ids, emails or usernames',
      description:
        'Send exactly one list (1–100 values). The answer maps each looked-up value to its user; values without a user are left out, and a user asked for twice appears once (emails and usernames match case-insensitively, the first spelling is the key).',
      security: ADMIN_KEY,
      request: { query: includeOrgsQuery, ...jsonBody(batchUsersBody) },
      responses: { 200: json('Users by looked-up value', batchUsersResponse), ...problemsOf() },
    }),
    async (c) => {
      const { include_orgs } = c.req.valid('query')
      const body = c.req.valid('json')
      const values = body.user_ids ?? body.emails ?? body.usernames ?? []
      const lookup = body.user_ids
        ? lookupBy(
            await store.getUsersByIds(values),
            (u) => u.user_id,
            (v) => v,
          )
        : body.emails
          ? lookupBy(
              await store.getUsersByEmails(values),
              (u) => u.email.toLowerCase(),
              (v) => v.toLowerCase(),
            )
          : lookupBy(
              await store.getUsersByUsernames(values),
              (u) => u.username?.toLowerCase(),
              (v) => v.toLowerCase(),
            )
      const result: Record<string, UserMetadata> = {}
      const seen = new Set<string>()
      for (const value of values) {
        const user = lookup(value)
        if (user === undefined || seen.has(user.user_id)) continue
        seen.add(user.user_id)
        result[value] = await view(user, include_orgs)
      }
      return c.json(result, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{user_id}',
      tags,
      summary: 'Fetch a user by id',
      security: ADMIN_KEY,
      request: { params: userIdParam, query: includeOrgsQuery },
      responses: { 200: json('The user', userMetadata), ...problemsOf(404) },
    }),
    async (c) => {
      const { user_id } = c.req.valid('param')
      const user = await users.get(user_id)
      return c.json(await view(user, c.req.valid('query').include_orgs), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/email/{email}',
      tags,
      summary: 'Fetch a user by email (case-insensitive)',
      security: ADMIN_KEY,
      request: { params: emailParam, query: includeOrgsQuery },
      responses: { 200: json('The user', userMetadata), ...problemsOf(404) },
    }),
    async (c) => {
      const { email } = c.req.valid('param')
      const user = await users.getByEmail(email)
      return c.json(await view(user, c.req.valid('query').include_orgs), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/username/{username}',
      tags,
      summary: 'Fetch a user by username (case-insensitive)',
      security: ADMIN_KEY,
      request: { params: usernameParam, query: includeOrgsQuery },
      responses: { 200: json('The user', userMetadata), ...problemsOf(404) },
    }),
    async (c) => {
      const { username } = c.req.valid('param')
      const user = await users.getByUsername(username)
      return c.json(await view(user, c.req.valid('query').include_orgs), 200)
    },
  )

  // Every other write to one user: change the record, announce it, answer with the new record.
  const update = async (userId: string, patch: UserPatch, fields?: Record<string, string>) =>
    view(await storeWrite(users.update(userId, patch), fields))

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/users/{user_id}',
      tags,
      summary: 'Update a user: null clears a field, an absent field stays, objects are replaced',
      security: ADMIN_KEY,
      request: { params: userIdParam, ...jsonBody(updateUserBody) },
      responses: { 200: json('The updated user', userMetadata), ...problemsOf(404, 409) },
    }),
    async (c) => c.json(await update(c.req.valid('param').user_id, withoutNoOps(c.req.valid('json'))), 200),
  )

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/users/{user_id}/email',
      tags,
      summary: "Change a user's email",
      description: 'gatehouse sends no email: require_email_confirmation only decides whether the new address counts as confirmed.',
      security: ADMIN_KEY,
      request: { params: userIdParam, ...jsonBody(updateEmailBody) },
      responses: { 200: json('The updated user', userMetadata), ...problemsOf(404, 409) },
    }),
    async (c) => {
      const { new_email, require_email_confirmation } = c.req.valid('json')
      const patch = { email: new_email, email_confirmed: !require_email_confirmation }
      return c.json(await update(c.req.valid('param').user_id, patch, { email: 'new_email' }), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/users/{user_id}/password',
      tags,
      summary: "Set or replace a user's password",
      security: ADMIN_KEY,
      request: { params: userIdParam, ...jsonBody(setPasswordBody) },
      responses: { 200: json('The updated user', userMetadata), ...problemsOf(404) },
    }),
    async (c) => {
      const { password, ask_user_to_update_password_on_login } = c.req.valid('json')
      return c.json(await view(await users.setPassword(c.req.valid('param').user_id, password, ask_user_to_update_password_on_login)), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/users/{user_id}/password',
      tags,
      summary: "Clear a user's password: password sign-in stops for them until one is set again",
      security: ADMIN_KEY,
      request: { params: userIdParam },
      responses: { 200: json('The updated user', userMetadata), ...problemsOf(404) },
    }),
    async (c) => c.json(await view(await users.clearPassword(c.req.valid('param').user_id)), 200),
  )

  const flags: [path: string, summary: string, patch: UserPatch][] = [
    ['disable', "Disable a user: the user's tokens stop working", { enabled: false }],
    ['enable', 'Enable a disabled user', { enabled: true }],
    ['enable_can_create_orgs', 'Allow the user to create orgs', { can_create_orgs: true }],
    ['disable_can_create_orgs', 'Stop the user from creating orgs', { can_create_orgs: false }],
  ]
  for (const [path, summary, patch] of flags) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/users/{user_id}/${path}`,
        tags,
        summary,
        security: ADMIN_KEY,
        request: { params: userIdParam },
        responses: { 200: json('The updated user', userMetadata), ...problemsOf(404) },
      }),
      async (c) => c.json(await update(c.req.valid('param').user_id, patch), 200),
    )
  }

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/users/{user_id}',
      tags,
      summary: 'Delete a user and their memberships',
      description: "The user's personal API keys stop validating; the org keys they created with revoke_on_creator_leave are archived.",
      security: ADMIN_KEY,
      request: { params: userIdParam },
      responses: { 204: { description: 'Deleted' }, ...problemsOf(404) },
    }),
    async (c) => {
      await users.delete(c.req.valid('param').user_id)
      return c.body(null, 204)
    },
  )
}

/** The request without PropelAuth's email and domain flags, which have nothing to act on here. */
function withoutNoOps<T extends object>(body: T): Omit<T, (typeof NO_EFFECT_FIELDS)[number]> {
  const rest = { ...body } as Record<string, unknown>
  for (const field of NO_EFFECT_FIELDS) delete rest[field]
  return rest as Omit<T, (typeof NO_EFFECT_FIELDS)[number]>
}

/** Finds a looked-up value's user, normalising the value the way the store matched it. */
function lookupBy(
  users: User[],
  keyOf: (u: User) => string | undefined,
  normalise: (value: string) => string,
): (value: string) => User | undefined {
  const byKey = new Map<string, User>()
  for (const user of users) {
    const key = keyOf(user)
    if (key !== undefined) byKey.set(key, user)
  }
  return (value) => byKey.get(normalise(value))
}
