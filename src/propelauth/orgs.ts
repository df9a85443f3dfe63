import type { Hono } from 'hono'
import type { OrgPatch } from '../store/index.ts'
import type { PropelAuthContext } from './context.ts'
import { write } from './errors.ts'
import { jsonBody } from './parse.ts'
import { createOrgBody, memberBody, orgQueryBody, removeMemberBody, updateOrgBody } from './schemas.ts'
import { orgView, organizationView, pageOf } from './views.ts'

const ORG = '/api/backend/v1/org'

/** PropelAuth's org functions over the directory's org operations. */
export function registerOrgRoutes(app: Hono, { directory }: PropelAuthContext): void {
  const { store, orgs } = directory
  const ok = () => Response.json({})

  app.post(`${ORG}/query`, async (c) => {
    const q = await jsonBody(c, orgQueryBody)
    const page = await store.queryOrgs(q)
    return c.json({ orgs: page.items.map(orgView), total_orgs: page.total, ...pageOf(q, page.total) })
  })
  app.post(`${ORG}/`, async (c) => {
    const created = await write(orgs.create(await jsonBody(c, createOrgBody)))
    return c.json({ org_id: created.org_id, name: created.name })
  })
  app.post(`${ORG}/add_user`, async (c) => {
    const { org_id, user_id, role } = await jsonBody(c, memberBody)
    await write(orgs.addMember(org_id, user_id, role), { membership: 'user_id' })
    return ok()
  })
  app.post(`${ORG}/change_role`, async (c) => {
    const { org_id, user_id, role } = await jsonBody(c, memberBody)
    await orgs.changeRole(org_id, user_id, role)
    return ok()
  })
  app.post(`${ORG}/remove_user`, async (c) => {
    const { org_id, user_id } = await jsonBody(c, removeMemberBody)
    await orgs.removeMember(org_id, user_id)
    return ok()
  })

  app.get(`${ORG}/:org_id`, async (c) => c.json(organizationView(await orgs.get(c.req.param('org_id')))))
  app.put(`${ORG}/:org_id`, async (c) => {
    const { autojoin_by_domain, restrict_to_domain, ...rest } = await jsonBody(c, updateOrgBody)
    const patch: OrgPatch = {
      ...rest,
      ...(autojoin_by_domain === undefined ? {} : { enable_auto_joining_by_domain: autojoin_by_domain }),
      ...(restrict_to_domain === undefined ? {} : { members_must_have_matching_domain: restrict_to_domain }),
    }
    await write(orgs.update(c.req.param('org_id'), patch))
    return ok()
  })
  app.delete(`${ORG}/:org_id`, async (c) => {
    await orgs.delete(c.req.param('org_id'))
    return ok()
  })
  for (const [path, allowed] of [
    ['allow_saml', true],
    ['disallow_saml', false],
  ] as const) {
    app.post(`${ORG}/:org_id/${path}`, async (c) => {
      await orgs.update(c.req.param('org_id'), { can_setup_saml: allowed })
      return ok()
    })
  }
}
