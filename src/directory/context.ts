import type { ApiKeyPrefixes, ValidationMeter } from '../apikeys/index.ts'
import type { RoleTable } from '../identity/index.ts'
import type { Mailer } from '../mail/index.ts'
import type { Store } from '../store/index.ts'

/**
 * What a directory write changed, emitted after the write committed so the gateway can drop
 * cached identities built from the old state (a disabled or deleted user's tokens must stop
 * working before they expire). `user`: that user's record (created, updated, disabled, deleted).
 * `org`: the org's record, or the whole org when deleted, so every identity holding it is stale.
 * `membership`: that user's role in that org (added, changed, removed).
 * `api_key`: that key (created, updated, rotated, archived, deleted, imported), with its owners.
 */
export type DirectoryChange = { kind: 'user' | 'org' | 'membership' | 'api_key'; userId?: string; orgId?: string; apiKeyId?: string }

/** An audit record: what was done to what, never a secret. */
export type AuditEvent = Record<string, unknown> & { action: string }

/** How the directory makes and treats API keys. */
export type ApiKeySettings = {
  /** The secret prefix per key type (default DEFAULT_PREFIXES). */
  prefixes?: ApiKeyPrefixes
  /** The default of revoke_on_creator_leave for org keys that record a creator (default false). */
  revokeOnCreatorLeave?: boolean
}

/** Signs access tokens for the directory (gatehouse's local issuer implements it). */
export type AccessTokenIssuer = {
  /**
   * Resolves the signed token. Rejects with AccessTokenError when the request cannot be served
   * (user gone or disabled, not a member of activeOrgId); any other rejection is a 500 whose
   * message is not shown to the client.
   */
  mint(input: { userId: string; durationMinutes: number; activeOrgId?: string }): Promise<string>
}

/** Where end-user sign-in lives: the gateway's public URL (the origin of the links) and where a sign-in may redirect. */
export type SignInSettings = { publicUrl?: string; redirectOrigins: ReadonlySet<string> }

/** What the directory's operations share. */
export type DirectoryContext = {
  store: Store
  roles: RoleTable
  tokens: AccessTokenIssuer | undefined
  /** Called synchronously after each committed write; it must not throw (the write is already done). */
  changed(event: DirectoryChange): void
  audit(event: AuditEvent): void
  /** Unix seconds. */
  now(): number
  apiKeys: Required<ApiKeySettings>
  /** Rate-limits and counts each successful validation; without it validation is free and uncounted. */
  meter: ValidationMeter | undefined
  signIn: SignInSettings
  /** Delivers the links the directory mails (invitations, magic links asked for by email); absent: nothing is mailed. */
  mailer: Mailer | undefined
}
