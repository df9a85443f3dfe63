import { ACCOUNT_PATH } from '../accounts/index.ts'
import { INVITE_PATH } from '../directory/index.ts'
import { assetAt } from './assets.ts'
import type { Asset } from './assets.ts'

export const CREATE_KEY_PATH = `${ACCOUNT_PATH}/keys`
export const ARCHIVE_KEY_PATH = `${ACCOUNT_PATH}/keys/archive`
export const SIGN_OUT_PATH = `${ACCOUNT_PATH}/sign-out`

/** Which page, form action or asset a request is for; `post` says the form actions, the rest are read with GET or HEAD. */
export type PageEndpoint =
  | { kind: 'account' }
  | { kind: 'create-key' }
  | { kind: 'archive-key' }
  | { kind: 'sign-out' }
  | { kind: 'asset'; asset: Asset }
  | { kind: 'invite'; secret: string }

const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD'])

/**
 * The page endpoint of a canonical path, the reserved prefix in any letter case as the decision
 * folds it. An invitation's page is its GET: accepting it (POST to the same URL) is the accounts
 * door's, so that method is left to it.
 */
export function pageEndpointOf(method: string, path: string): PageEndpoint | undefined {
  const folded = path.toLowerCase()
  switch (folded) {
    case ACCOUNT_PATH:
      return { kind: 'account' }
    case CREATE_KEY_PATH:
      return { kind: 'create-key' }
    case ARCHIVE_KEY_PATH:
      return { kind: 'archive-key' }
    case SIGN_OUT_PATH:
      return { kind: 'sign-out' }
  }
  const asset = assetAt(folded)
  if (asset) return { kind: 'asset', asset }
  if (folded.startsWith(INVITE_PATH) && READ_METHODS.has(method)) {
    const secret = path.slice(INVITE_PATH.length)
    if (/^[A-Za-z0-9_-]{1,128}$/.test(secret)) return { kind: 'invite', secret }
  }
  return undefined
}

/** The method each endpoint answers; any other is 405 with this Allow. */
export function methodsOf(endpoint: PageEndpoint): readonly string[] {
  return endpoint.kind === 'account' || endpoint.kind === 'asset' || endpoint.kind === 'invite' ? ['GET', 'HEAD'] : ['POST']
}
