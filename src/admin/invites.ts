import { createRoute } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { pendingInviteView } from '../propelauth/index.ts'
import type { ApiContext } from './context.ts'
import { storeWrite } from './errors.ts'
import { ADMIN_KEY, json, jsonBody, problemsOf } from './openapi.ts'
import { createInviteBody, inviteCreated, inviteParam, pendingInvitesPage, pendingInvitesQuery } from './schemas.ts'
import { pageFields } from './views.ts'

const tags = ['end users']

/** Org invitations (PropelAuth's invite_user_to_org, fetch_pending_invites, revoke_pending_org_invite). */
export function registerInviteRoutes(app: OpenAPIHono, { directory }: ApiContext): void {
  const { invites } = directory

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invites',
      tags,
      summary: 'Invite an email to an org (PropelAuth’s invite_user_to_org)',
      description:
        'Mails the one-time link when mail is configured, and answers it either way. Inviting the same email to the same org again replaces the pending invite (the earlier link stops working). Refused: an unknown role (400), org (404), an email already a member or an org at max_users (409), an email the org’s domain rule excludes (403). 404 without end_users.public_url; 502 when the mail delivery fails (the invite is stored: invite again to resend).',
      security: ADMIN_KEY,
      request: jsonBody(createInviteBody),
      responses: { 201: json('The invite and its link', inviteCreated), ...problemsOf(403, 404, 409, 502) },
    }),
    async (c) => {
      const { invite, url, mailed } = await storeWrite(invites.create(c.req.valid('json')), { invite: 'email' })
      return c.json({ ...pendingInviteView(invite), url, mailed }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invites',
      tags,
      summary: 'Pending invites, oldest first (PropelAuth’s fetch_pending_invites)',
      description: 'Invites neither accepted, revoked nor expired; of one org, or of every org.',
      security: ADMIN_KEY,
      request: { query: pendingInvitesQuery },
      responses: { 200: json('A page of pending invites', pendingInvitesPage), ...problemsOf() },
    }),
    async (c) => {
      const query = c.req.valid('query')
      const page = await invites.listPending(query)
      return c.json({ total_invites: page.total, ...pageFields(query, page.total), invites: page.items.map(pendingInviteView) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org_id}/invites/{email}',
      tags,
      summary: 'Revoke the pending invite of an email to an org (PropelAuth’s revoke_pending_org_invite)',
      description: 'Its link stops working at once.',
      security: ADMIN_KEY,
      request: { params: inviteParam },
      responses: { 204: { description: 'Revoked' }, ...problemsOf(404) },
    }),
    async (c) => {
      const { org_id, email } = c.req.valid('param')
      await invites.revoke(org_id, email)
      return c.body(null, 204)
    },
  )
}
