import type { Hono } from 'hono'
import type { PropelAuthContext } from './context.ts'
import { write } from './errors.ts'
import { jsonBody, query } from './parse.ts'
import { inviteByEmailBody, inviteByUserIdBody, pendingInvitesQuery, revokeInviteBody } from './schemas.ts'
import { pageOf, pendingInviteView } from './views.ts'

const V1 = '/api/backend/v1'

/** PropelAuth's invitation functions over the directory's invite operations (which mail the link when mail is configured). */
export function registerInviteRoutes(app: Hono, { directory }: PropelAuthContext): void {
  const { invites, users } = directory
  const ok = () => Response.json({})

  app.post(`${V1}/invite_user`, async (c) => {
    const { org_id, email, role } = await jsonBody(c, inviteByEmailBody)
    await write(invites.create({ org_id, email, role }), { invite: 'email' })
    return ok()
  })
  app.post(`${V1}/invite_user_by_id`, async (c) => {
    const { org_id, user_id, role } = await jsonBody(c, inviteByUserIdBody)
    const { email } = await users.get(user_id)
    await write(invites.create({ org_id, email, role }), { invite: 'user_id' })
    return ok()
  })
  app.get(`${V1}/pending_org_invites`, async (c) => {
    const q = query(c, pendingInvitesQuery)
    const page = await invites.listPending(q)
    return c.json({ total_invites: page.total, ...pageOf(q, page.total), invites: page.items.map(pendingInviteView) })
  })
  app.delete(`${V1}/pending_org_invites`, async (c) => {
    const { org_id, invitee_email } = await jsonBody(c, revokeInviteBody)
    await invites.revoke(org_id, invitee_email)
    return ok()
  })
}
