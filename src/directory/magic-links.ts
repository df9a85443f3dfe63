import { createHash, randomBytes } from 'node:crypto'
import type { User } from '../store/index.ts'
import type { DirectoryContext } from './context.ts'
import { InvalidInputError, LinkRefusedError, NotFoundError } from './errors.ts'
import { allowedRedirect } from './redirects.ts'

/** The gateway path a magic link opens; its last segment is the link's secret. */
export const MAGIC_LINK_PATH = '/.gatehouse/magic/'

export type NewMagicLinkInput = {
  email: string
  redirect_to_url?: string
  /** PropelAuth's default: a day. */
  expires_in_hours?: number
  /** PropelAuth's default: true. */
  create_new_user_if_one_doesnt_exist?: boolean
}

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex')

/**
 * Magic links: PropelAuth's create_magic_link, answered with the URL (the caller mails it, as
 * with PropelAuth). The secret is 32 random bytes, stored only as its SHA-256; following it
 * works once, before it expires, for a user who is still enabled.
 */
export function magicLinkOperations(ctx: DirectoryContext) {
  const { store, signIn, mailer } = ctx
  async function create(input: NewMagicLinkInput): Promise<{ url: string; expiresAt: number }> {
    if (signIn.publicUrl === undefined) throw new NotFoundError('Magic links are off: set end_users.public_url')
    const hours = input.expires_in_hours ?? 24
    if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 30) {
      throw new InvalidInputError('expires_in_hours', 'must be a whole number of hours from 1 to 720')
    }
    const redirectTo = input.redirect_to_url === undefined ? null : allowedRedirect(input.redirect_to_url, signIn.redirectOrigins)
    if (redirectTo === undefined) {
      throw new InvalidInputError('redirect_to_url', 'must be a path on the gateway or a URL on end_users.redirect_origins')
    }
    let user: User | undefined = await store.getUserByEmail(input.email)
    if (user === undefined) {
      if (input.create_new_user_if_one_doesnt_exist === false) throw new NotFoundError(`No user with email ${input.email}`)
      // Following the link proves the address, as confirming it would.
      user = await store.createUser({ email: input.email, email_confirmed: true })
      ctx.changed({ kind: 'user', userId: user.user_id })
    }
    const secret = randomBytes(32).toString('base64url')
    const expiresAt = ctx.now() + hours * 3600
    await store.createMagicLink({ token_hash: hashOf(secret), user_id: user.user_id, redirect_to: redirectTo, expires_at: expiresAt })
    return { url: `${signIn.publicUrl}${MAGIC_LINK_PATH}${secret}`, expiresAt }
  }
  return {
    async create(input: NewMagicLinkInput): Promise<{ url: string }> {
      const { url } = await create(input)
      return { url }
    },

    /**
     * Mails a sign-in link to an existing user (an end user asking for one by email); resolves
     * false, mailing nothing, for an email no user has: a request cannot create users. NotFoundError
     * without mail configured.
     */
    async mail(input: { email: string; redirect_to_url?: string }): Promise<boolean> {
      if (mailer === undefined) throw new NotFoundError('Mail is off: configure mail')
      let link
      try {
        link = await create({ ...input, create_new_user_if_one_doesnt_exist: false })
      } catch (err) {
        if (err instanceof NotFoundError) return false
        throw err
      }
      await mailer.send({ type: 'magic_link', to: input.email, url: link.url, expires_at: link.expiresAt })
      return true
    },

    /** The user the link signs in and where to send them; LinkRefusedError for an unknown, used or expired link, or a disabled user. */
    async follow(secret: string): Promise<{ user: User; redirectTo: string | null }> {
      const { used, found } = await store.useMagicLink(hashOf(secret), ctx.now())
      if (used === undefined) throw new LinkRefusedError(found ? 'used_or_expired' : 'unknown')
      const user = await store.getUser(used.user_id)
      if (user === undefined || !user.enabled) throw new LinkRefusedError('user_disabled')
      return { user, redirectTo: used.redirect_to }
    },
  }
}
