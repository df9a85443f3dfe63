import { MAGIC_LINK_PATH } from '../directory/index.ts'
import { RESERVED_PREFIX } from '../rules/index.ts'

export const LOGIN_PATH = `${RESERVED_PREFIX}/login`
export const LOGOUT_PATH = `${RESERVED_PREFIX}/logout`

/** Which end-user endpoint a canonical path is; a magic link's secret is its last segment, as sent (case matters there). */
export type AccountEndpoint = { kind: 'login' } | { kind: 'logout' } | { kind: 'magic'; secret: string }

/** The reserved prefix in any letter case, as the decision folds it. */
export function accountEndpointOf(path: string): AccountEndpoint | undefined {
  const folded = path.toLowerCase()
  if (folded === LOGIN_PATH) return { kind: 'login' }
  if (folded === LOGOUT_PATH) return { kind: 'logout' }
  if (folded.startsWith(MAGIC_LINK_PATH)) {
    const secret = path.slice(MAGIC_LINK_PATH.length)
    if (/^[A-Za-z0-9_-]{1,128}$/.test(secret)) return { kind: 'magic', secret }
  }
  return undefined
}
