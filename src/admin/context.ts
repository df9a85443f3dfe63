import type { RoleTable } from '../authz/index.ts'
import type { Store } from '../store/index.ts'
import type { AccessTokenIssuer } from './tokens.ts'

/**
 * What a management API write changed, emitted after the write committed so the gateway can drop
 * cached identities built from the old state (a disabled or deleted user's tokens must stop
 * working before they expire). `user`: that user's record (created, updated, disabled, deleted).
 * `org`: the org's record, or the whole org when deleted, so every identity holding it is stale.
 * `membership`: that user's role in that org (added, changed, removed).
 */
export type DirectoryChange = { kind: 'user' | 'org' | 'membership'; userId?: string; orgId?: string }

/** What the route modules share once the management API is on. */
export type ApiContext = {
  store: Store
  roles: RoleTable
  tokens: AccessTokenIssuer | undefined
  changed(event: DirectoryChange): void
}
