import { RESERVED_PREFIX } from '../rules/index.ts'

export const LOGIN_PATH = `${RESERVED_PREFIX}/login`
export const LOGOUT_PATH = `${RESERVED_PREFIX}/logout`

/** Which end-user endpoint a canonical path is, if any (the reserved prefix in any letter case, as the decision folds it). */
export type AccountEndpoint = 'login' | 'logout'

export function accountEndpointOf(path: string): AccountEndpoint | undefined {
  const folded = path.toLowerCase()
  if (folded === LOGIN_PATH) return 'login'
  if (folded === LOGOUT_PATH) return 'logout'
  return undefined
}
