import { createHash, randomBytes } from 'node:crypto'
import type { MailMessage } from '../mail/index.ts'
import { StoreConflictError, StoreLimitError } from '../store/index.ts'
import type { AcceptedInvite, Invite, InviteAcceptor, Org, Page, Paging } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { InvalidInputError, InviteRefusedError, NotFoundError } from './errors.ts'
import { admitsEmail } from './orgs.ts'
import { checkPasswordRules, hashPassword } from './passwords.ts'

/** The gateway path an invitation opens; its last segment is the invite's secret. */
export const INVITE_PATH = '/.gatehouse/invite/'

/** A week, as PropelAuth's invitations last; at most 30 days, as a magic link. */
export const INVITE_HOURS = Object.freeze({ default: 7 * 24, max: 30 * 24 })

export type NewInviteInput = {
  email: string
  org_id: string
  role: string
  expires_in_hours?: number
  /** The user who invites (a signed-in member); absent for the admin API and the CLI. */
  inviter_user_id?: string
}

/** A pending invite with what a list shows beside it (PropelAuth's PendingInvite). */
export type PendingInvite = Invite & { org_name: string; inviter_email: string | null }

/** Who accepts: a signed-in user, or a sign-up with a password for the invite's email. */
export type AcceptInput = { user_id: string } | { password: string; first_name?: string; last_name?: string }

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex')
const normalised = (email: string) => email.trim().toLowerCase()

/**
 * Invitations to an org: PropelAuth's invite_user_to_org, its pending list and revocation, and
 * the acceptance it leaves to its hosted pages. The secret is 32 random bytes, kept only as its
 * SHA-256; the org's rules (a known role, max_users, the domain rule, not yet a member) are
 * checked when the invite is made and again when it is accepted, since either may have changed.
 * Inviting the same email to the same org again replaces the pending invite: the earlier link
 * stops working and the new one has its own role and expiry.
 */
export function inviteOperations(ctx: DirectoryContext) {
  const { store, roles, signIn, mailer } = ctx

  async function orgOf(orgId: string): Promise<Org> {
    const org = await store.getOrg(orgId)
    if (org === undefined) throw new NotFoundError(`No org with id ${orgId}`)
    return org
  }

  async function checkRoom(org: Org, email: string): Promise<void> {
    if (!admitsEmail(org, email)) {
      throw new InviteRefusedError('domain_not_allowed', `org ${org.org_id} only admits members with an @${org.domain} email`)
    }
    if (org.max_users !== null) {
      const { total } = await store.listOrgMembers(org.org_id, { page_size: 1, page_number: 0 })
      if (total >= org.max_users) throw new InviteRefusedError('org_full', `the org has reached its max_users (${org.max_users})`)
    }
  }

  return {
    /** Stores the invite and mails it when mail is configured; the URL is answered either way (the caller may send it itself). */
    async create(input: NewInviteInput): Promise<{ invite: PendingInvite; url: string; mailed: boolean }> {
      if (signIn.publicUrl === undefined) throw new NotFoundError('Invitations are off: set end_users.public_url')
      const hours = input.expires_in_hours ?? INVITE_HOURS.default
      if (!Number.isInteger(hours) || hours < 1 || hours > INVITE_HOURS.max) {
        throw new InvalidInputError('expires_in_hours', `must be a whole number of hours from 1 to ${INVITE_HOURS.max}`)
      }
      if (!roles.knows(input.role)) {
        throw new InvalidInputError('role', `unknown role "${input.role}" (roles: ${roles.names.join(', ') || 'none defined'})`)
      }
      const email = normalised(input.email)
      const org = await orgOf(input.org_id)
      const existing = await store.getUserByEmail(email)
      if (existing !== undefined && (await store.getMembership(org.org_id, existing.user_id)) !== undefined) {
        throw new InviteRefusedError('already_member', `${email} is already a member of org ${org.org_id}`)
      }
      await checkRoom(org, email)
      const inviter = input.inviter_user_id === undefined ? undefined : await store.getUser(input.inviter_user_id)
      if (input.inviter_user_id !== undefined && inviter === undefined) throw new NotFoundError(`No user with id ${input.inviter_user_id}`)
      const secret = randomBytes(32).toString('base64url')
      const stored = await store.createInvite({
        org_id: org.org_id,
        email,
        role: input.role,
        inviter_user_id: inviter?.user_id ?? null,
        expires_at: ctx.now() + hours * 3600,
        secret_hash: hashOf(secret),
      })
      const invite: PendingInvite = { ...stored, org_name: org.name, inviter_email: inviter?.email ?? null }
      const url = `${signIn.publicUrl}${INVITE_PATH}${secret}`
      if (mailer === undefined) return { invite, url, mailed: false }
      const message: MailMessage = {
        type: 'invite',
        to: email,
        url,
        expires_at: invite.expires_at,
        org: { org_id: org.org_id, name: org.name },
        role: invite.role,
        ...(inviter ? { inviter_email: inviter.email } : {}),
      }
      await mailer.send(message)
      return { invite, url, mailed: true }
    },

    /** Pending (unexpired, neither accepted nor revoked) invites, oldest first; of one org, or of all. */
    async listPending(query: Paging & { org_id?: string }): Promise<Page<PendingInvite>> {
      const page = await store.listPendingInvites({ ...query, now: ctx.now() })
      const orgNames = new Map<string, string>()
      for (const orgId of new Set(page.items.map((i) => i.org_id))) orgNames.set(orgId, (await store.getOrg(orgId))?.name ?? '')
      const inviterIds = page.items.flatMap((i) => (i.inviter_user_id === null ? [] : [i.inviter_user_id]))
      const inviters = new Map((await store.getUsersByIds(inviterIds)).map((u) => [u.user_id, u.email]))
      return {
        total: page.total,
        items: page.items.map((i) => ({
          ...i,
          org_name: orgNames.get(i.org_id) ?? '',
          inviter_email: i.inviter_user_id === null ? null : (inviters.get(i.inviter_user_id) ?? null),
        })),
      }
    },

    /** Revokes the pending invite of this email to this org; NotFoundError when there is none. */
    async revoke(orgId: string, email: string): Promise<void> {
      if (!(await store.revokeInvite(orgId, normalised(email), ctx.now()))) {
        throw new NotFoundError(`No pending invite for ${normalised(email)} to org ${orgId}`)
      }
    },

    /**
     * Accepts the invite with this secret, once: as a signed-in user whose email is the invite's
     * (compared lowercased, nothing else folded), or by signing up with a password for the
     * invite's email (confirmed: the link was mailed to it). InviteRefusedError says why not.
     */
    async accept(secret: string, input: AcceptInput): Promise<AcceptedInvite> {
      const hash = hashOf(secret)
      const invite = await store.getInviteBySecretHash(hash)
      const now = ctx.now()
      if (invite === undefined) throw new InviteRefusedError('not_found', 'No such invitation')
      refuseUnusable(invite, now)
      const org = await store.getOrg(invite.org_id)
      if (org === undefined) throw new InviteRefusedError('not_found', 'No such invitation')
      if (!admitsEmail(org, invite.email)) {
        throw new InviteRefusedError('domain_not_allowed', `org ${org.org_id} only admits members with an @${org.domain} email`)
      }
      const acceptor = await acceptorOf(invite, input)
      let accepted
      try {
        accepted = await store.acceptInvite(hash, now, acceptor)
      } catch (err) {
        if (err instanceof StoreLimitError) throw new InviteRefusedError('org_full', err.message)
        if (err instanceof StoreConflictError && err.field === 'membership') {
          throw new InviteRefusedError('already_member', `already a member of org ${org.org_id}`)
        }
        if (err instanceof StoreConflictError && err.field === 'email') {
          throw new InviteRefusedError('sign_in_first', 'A user with this email exists: sign in, then accept')
        }
        throw err
      }
      // Another acceptance, a revocation or the expiry got there between the read and the write.
      if (accepted === undefined) throw new InviteRefusedError('used', 'This invitation was used or revoked')
      if ('password' in input) ctx.changed({ kind: 'user', userId: accepted.user.user_id })
      ctx.changed({ kind: 'membership', orgId: accepted.invite.org_id, userId: accepted.user.user_id })
      return accepted
    },
  }

  async function acceptorOf(invite: Invite, input: AcceptInput): Promise<InviteAcceptor> {
    if ('user_id' in input) {
      const user = await store.getUser(input.user_id)
      if (user === undefined || !user.enabled) throw new InviteRefusedError('user_disabled', 'The signed-in user cannot accept invitations')
      if (normalised(user.email) !== invite.email) {
        throw new InviteRefusedError('email_mismatch', 'This invitation is for another email address than the signed-in user’s')
      }
      return { user_id: user.user_id }
    }
    if ((await store.getUserByEmail(invite.email)) !== undefined) {
      throw new InviteRefusedError('sign_in_first', 'A user with this email exists: sign in, then accept')
    }
    checkPasswordRules(input.password)
    return {
      new_user: {
        email: invite.email,
        email_confirmed: true,
        first_name: input.first_name ?? null,
        last_name: input.last_name ?? null,
        password_hash: await hashPassword(input.password),
      },
    }
  }
}

function refuseUnusable(invite: Invite, now: number): void {
  if (invite.accepted_at !== null) throw new InviteRefusedError('used', 'This invitation was used')
  if (invite.revoked_at !== null) throw new InviteRefusedError('revoked', 'This invitation was revoked')
  if (invite.expires_at <= now) throw new InviteRefusedError('expired', 'This invitation has expired')
}
