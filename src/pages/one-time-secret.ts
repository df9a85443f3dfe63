import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { cookieValue } from '../authn/index.ts'
import { ACCOUNT_PATH } from '../accounts/index.ts'

/** A key's secret, just created, on its way from the create form's 303 to the page that shows it once. */
export type NewKeySecret = { apiKeyId: string; secret: string }

export const ONE_TIME_COOKIE = 'gatehouse_new_key'
/** Long enough for the redirect to be followed; the page clears it as soon as it shows it. */
const MAX_AGE_SECONDS = 120
const ATTRIBUTES = `Path=${ACCOUNT_PATH}; HttpOnly; Secure; SameSite=Strict`

export type OneTimeSecrets = {
  /** The Set-Cookie value that carries the secret to the next page of this user. */
  cookie(userId: string, created: NewKeySecret, now: number): string
  /** The secret the Cookie header carries for this user, if any and not expired. */
  read(cookieHeader: string | undefined, userId: string, now: number): NewKeySecret | undefined
  /** The Set-Cookie value that removes it (sent with the page that shows it). */
  readonly cleared: string
}

/**
 * Post/redirect/get for a secret that must be shown once: the create form's 303 sets a short-lived
 * cookie holding the secret encrypted with AES-256-GCM (a key derived from the local issuer's, the
 * user id as associated data) for the account page only; the page shows it and clears the
 * cookie. The secret is never in a URL, in a cache (the page is no-store) or on the server.
 */
export function createOneTimeSecrets(key: Buffer): OneTimeSecrets {
  return {
    cookie(userId, created, now) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(userId))
      const plain = JSON.stringify({ ...created, expiresAt: now + MAX_AGE_SECONDS })
      const sealed = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `${ONE_TIME_COOKIE}=${sealed.toString('base64url')}; Max-Age=${MAX_AGE_SECONDS}; ${ATTRIBUTES}`
    },
    read(cookieHeader, userId, now) {
      const value = cookieValue(cookieHeader, ONE_TIME_COOKIE)
      if (value === undefined) return undefined
      const sealed = Buffer.from(value, 'base64url')
      if (sealed.length < 12 + 16 + 2) return undefined
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12)).setAAD(Buffer.from(userId))
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString('utf8')
        const opened = JSON.parse(plain) as NewKeySecret & { expiresAt: number }
        return opened.expiresAt >= now ? { apiKeyId: opened.apiKeyId, secret: opened.secret } : undefined
      } catch {
        // Another user's, tampered with, or sealed under another key: nothing to show.
        return undefined
      }
    },
    cleared: `${ONE_TIME_COOKIE}=; Max-Age=0; ${ATTRIBUTES}`,
  }
}
