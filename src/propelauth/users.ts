import type { Hono } from 'hono'
import type { NewUserInput } from '../directory/index.ts'
import type { UserPatch } from '../store/index.ts'
import type { PropelAuthContext } from './context.ts'
import { write } from './errors.ts'
import { jsonBody, query } from './parse.ts'
import {
  batchBodies,
  byEmailQuery,
  byUsernameQuery,
  createUserBody,
  includeOrgsQuery,
  magicLinkBody,
  migratePasswordBody,
  migrateUserBody,
  updateEmailBody,
  updatePasswordBody,
  updateUserBody,
  usersInOrgQuery,
  usersQuery,
} from './schemas.ts'
import { pageOf, userView } from './views.ts'

const USER = '/api/backend/v1/user'

/** PropelAuth's user functions over the directory's user operations. */
export function registerUserRoutes(app: Hono, { directory }: PropelAuthContext): void {
  const { store, roles, users, orgs } = directory
  const ok = () => Response.json({})

  app.get(`${USER}/email`, async (c) => {
    const q = query(c, byEmailQuery)
    return c.json(await userView(store, roles, await users.getByEmail(q.email), q.include_orgs))
  })
  app.get(`${USER}/username`, async (c) => {
    const q = query(c, byUsernameQuery)
    return c.json(await userView(store, roles, await users.getByUsername(q.username), q.include_orgs))
  })
  app.get(`${USER}/query`, async (c) => {
    const { include_orgs, ...q } = query(c, usersQuery)
    const page = await store.queryUsers(q)
    const list = await Promise.all(page.items.map((u) => userView(store, roles, u, include_orgs)))
    return c.json({ users: list, total_users: page.total, ...pageOf(q, page.total) })
  })
  app.get(`${USER}/org/:org_id`, async (c) => {
    const { include_orgs, ...q } = query(c, usersInOrgQuery)
    const orgId = c.req.param('org_id')
    await orgs.get(orgId)
    const page = await store.listOrgMembers(orgId, q)
    const list = await Promise.all(
      page.items.map(async ({ user, membership }) => ({
        ...(await userView(store, roles, user, include_orgs)),
        role_in_org: membership.role,
        additional_roles_in_org: [],
      })),
    )
    return c.json({ users: list, total_users: page.total, ...pageOf(q, page.total) })
  })

  // Batch fetches answer a list; unknown values are left out.
  const batches = [
    ['user_ids', (values: string[]) => store.getUsersByIds(values)],
    ['emails', (values: string[]) => store.getUsersByEmails(values)],
    ['usernames', (values: string[]) => store.getUsersByUsernames(values)],
  ] as const
  for (const [by, lookUp] of batches) {
    app.post(`${USER}/${by}`, async (c) => {
      const { include_orgs } = query(c, includeOrgsQuery)
      const found = await lookUp(await jsonBody(c, batchBodies[by]))
      return c.json(await Promise.all(found.map((u) => userView(store, roles, u, include_orgs))))
    })
  }

  // Both create through the directory's one create; they differ in the fields they take beyond
  // the profile and in the names PropelAuth gives some of them (`fields`, for its errors).
  const create = async (input: NewUserInput, fields?: Record<string, string>) => ({
    user_id: (await write(users.create(input), fields)).user_id,
  })
  app.post(`${USER}/`, async (c) => {
    const b = await jsonBody(c, createUserBody)
    return c.json(await create({ ...profileOf(b), password: b.password, update_password_required: b.ask_user_to_update_password_on_login }))
  })
  app.post('/api/backend/v1/migrate_user/', async (c) => {
    const b = await jsonBody(c, migrateUserBody)
    const input = {
      ...profileOf(b),
      enabled: b.enabled,
      picture_url: b.picture_url,
      legacy_user_id: b.existing_user_id ?? null,
      existing_password_hash: b.existing_password_hash,
      update_password_required: b.update_password_required,
    }
    return c.json(await create(input, { legacy_user_id: 'existing_user_id' }))
  })

  app.get(`${USER}/:user_id`, async (c) => {
    const { include_orgs } = query(c, includeOrgsQuery)
    return c.json(await userView(store, roles, await users.get(c.req.param('user_id')), include_orgs))
  })
  app.put(`${USER}/:user_id`, async (c) => {
    await write(users.update(c.req.param('user_id'), await jsonBody(c, updateUserBody)))
    return ok()
  })
  app.put(`${USER}/:user_id/password`, async (c) => {
    const { password, ask_user_to_update_password_on_login } = await jsonBody(c, updatePasswordBody)
    await write(users.setPassword(c.req.param('user_id'), password, ask_user_to_update_password_on_login))
    return ok()
  })
  app.put(`${USER}/:user_id/clear_password`, async (c) => {
    await users.clearPassword(c.req.param('user_id'))
    return ok()
  })
  app.post('/api/backend/v1/magic_link', async (c) => {
    const { expire_after_first_use: _, ...input } = await jsonBody(c, magicLinkBody)
    return c.json(await write(directory.magicLinks.create(input)))
  })
  app.post('/api/backend/v1/migrate_user/password', async (c) => {
    const { user_id, password_hash } = await jsonBody(c, migratePasswordBody)
    await write(users.importPasswordHash(user_id, password_hash))
    return ok()
  })
  app.put(`${USER}/:user_id/email`, async (c) => {
    const { new_email, require_email_confirmation } = await jsonBody(c, updateEmailBody)
    await write(users.update(c.req.param('user_id'), { email: new_email, email_confirmed: !require_email_confirmation }), {
      email: 'new_email',
    })
    return ok()
  })
  app.delete(`${USER}/:user_id`, async (c) => {
    await users.delete(c.req.param('user_id'))
    return ok()
  })

  const flags: [method: 'post' | 'put', path: string, patch: UserPatch][] = [
    ['post', 'disable', { enabled: false }],
    ['post', 'enable', { enabled: true }],
    ['put', 'can_create_orgs/enable', { can_create_orgs: true }],
    ['put', 'can_create_orgs/disable', { can_create_orgs: false }],
  ]
  for (const [method, path, patch] of flags) {
    app[method](`${USER}/:user_id/${path}`, async (c) => {
      await users.update(c.req.param('user_id'), patch)
      return ok()
    })
  }
}

/** The profile fields every user-creating body takes under the directory's own names. */
function profileOf(b: Pick<NewUserInput, 'email' | 'email_confirmed' | 'username' | 'first_name' | 'last_name' | 'properties'>) {
  return {
    email: b.email,
    email_confirmed: b.email_confirmed,
    username: b.username,
    first_name: b.first_name,
    last_name: b.last_name,
    properties: b.properties,
  }
}
