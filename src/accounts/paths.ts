import { INVITE_PATH, MAGIC_LINK_PATH } from '../directory/index.ts'
import { RESERVED_PREFIX } from '../rules/index.ts'

export const LOGIN_PATH = `${RESERVED_PREFIX}/login`
export const LOGOUT_PATH = `${RESERVED_PREFIX}/logout`
/** The self-service page (src/pages): where a browser lands after asking for a link or accepting an invitation. */
export const ACCOUNT_PATH = `${RESERVED_PREFIX}/account`
/** The account page's query parameter that says why a form sign-in was refused. */
export const SIGN_IN_REFUSED = 'sign_in'
/** `failed`: the email and password were refused (whichever way); `too_many`: a failure budget is spent. */
export type SignInRefusal = 'failed' | 'too_many'
/** Where an end user asks for a magic link by email (POST; with mail configured). */
export const MAGIC_REQUEST_PATH = `${RESERVED_PREFIX}/magic`

/**
 * Which end-user endpoint a canonical path is. A one-time link's secret is its last segment, as
 * sent (case matters there); `loggedPath` is what the access log shows instead of that path.
 */
export type AccountEndpoint =
  | { kind: 'login' }
  | { kind: 'logout' }
  | { kind: 'magic_request' }
  | { kind: 'magic'; secret: string; loggedPath: string }
  | { kind: 'invite'; secret: string; loggedPath: string }

type ExactKind = Exclude<AccountEndpoint, { secret: string }>['kind']
type SecretKind = Extract<AccountEndpoint, { secret: string }>['kind']

const EXACT: ReadonlyMap<string, ExactKind> = new Map([
  [LOGIN_PATH, 'login'],
  [LOGOUT_PATH, 'logout'],
  [MAGIC_REQUEST_PATH, 'magic_request'],
])

/** Paths that end in a link's secret: base64url, bounded. */
const WITH_SECRET: readonly { prefix: string; kind: SecretKind }[] = [
  { prefix: MAGIC_LINK_PATH, kind: 'magic' },
  { prefix: INVITE_PATH, kind: 'invite' },
]

/** The reserved prefix in any letter case, as the decision folds it. */
export function accountEndpointOf(path: string): AccountEndpoint | undefined {
  const folded = path.toLowerCase()
  const exact = EXACT.get(folded)
  if (exact !== undefined) return { kind: exact }
  for (const { prefix, kind } of WITH_SECRET) {
    if (!folded.startsWith(prefix)) continue
    const secret = path.slice(prefix.length)
    if (/^[A-Za-z0-9_-]{1,128}$/.test(secret)) return { kind, secret, loggedPath: `${prefix}…` }
  }
  return undefined
}
