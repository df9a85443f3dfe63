import type { Hono } from 'hono'
import { notSupported } from './errors.ts'

const V1 = '/api/backend/v1'

/** Functions of PropelAuth's SDKs that need sessions gatehouse does not keep (it signs tokens), 2FA or confirmation emails. */
const UNSUPPORTED: [method: 'get' | 'post' | 'put' | 'delete', path: string, what: string][] = [
  ['post', '/user/:user_id/logout_all_sessions', 'logoutAllUserSessions'],
  ['post', '/user/:user_id/disable_2fa', 'disableUser2fa'],
  ['post', '/resend_email_confirmation', 'resendEmailConfirmation'],
]

export function registerUnsupportedRoutes(app: Hono): void {
  for (const [method, path, what] of UNSUPPORTED) {
    app[method](V1 + path, () => {
      throw notSupported(what)
    })
  }
}
