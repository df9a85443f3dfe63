import { DEFAULT_PREFIXES } from '../config/index.ts'
import { createRoleTable } from '../identity/index.ts'
import type { RoleTable } from '../identity/index.ts'
import type { ValidationMeter } from '../apikeys/index.ts'
import type { Mailer } from '../mail/index.ts'
import type { Store } from '../store/index.ts'
import { accountKeyOperations } from './account-keys.ts'
import { apiKeyOperations } from './api-keys.ts'
import type { AccessTokenIssuer, ApiKeySettings, AuditEvent, DirectoryChange, DirectoryContext, SignInSettings } from './context.ts'
import { inviteOperations } from './invites.ts'
import { magicLinkOperations } from './magic-links.ts'
import { orgOperations } from './orgs.ts'
import { tokenOperations } from './tokens.ts'
import { userOperations } from './users.ts'

/**
 * The directory's domain operations on users, orgs, memberships, API keys and tokens, over one
 * store. Every front end (the admin API, the CLI through it) calls these; the rules live here once.
 */
export type DirectoryOperations = {
  store: Store
  roles: RoleTable
  users: ReturnType<typeof userOperations>
  orgs: ReturnType<typeof orgOperations>
  apiKeys: ReturnType<typeof apiKeyOperations>
  accountKeys: ReturnType<typeof accountKeyOperations>
  tokens: ReturnType<typeof tokenOperations>
  magicLinks: ReturnType<typeof magicLinkOperations>
  invites: ReturnType<typeof inviteOperations>
}

export type DirectoryOperationsOptions = {
  store: Store
  /** The configured roles; without them no role is known, so no member can be added. */
  roles?: RoleTable
  /** Without it, minting a token is refused as not found. */
  tokens?: AccessTokenIssuer
  /** Called synchronously after each committed write; it must not throw (the write is already done). */
  onChange?: (event: DirectoryChange) => void
  /** Called after audited writes (an API key deleted); must not throw. Never carries a secret. */
  audit?: (event: AuditEvent) => void
  apiKeys?: ApiKeySettings
  /** The clock, Unix seconds (default: the system clock). Expiry and rotation grace use it. */
  now?: () => number
  /** Validations as usage: each draws on the owner's rate limits and is counted (PropelAuth's semantics). */
  meter?: ValidationMeter
  /** Without a public URL, magic links are refused as not found; without origins, only gateway paths are redirect targets. */
  signIn?: SignInSettings
  /** Mails invitations and requested magic links; without it invitations answer their URL only and nothing is mailed. */
  mailer?: Mailer
}

export function createDirectoryOperations(options: DirectoryOperationsOptions): DirectoryOperations {
  const ctx: DirectoryContext = {
    store: options.store,
    roles: options.roles ?? createRoleTable([]),
    tokens: options.tokens,
    changed: options.onChange ?? (() => {}),
    audit: options.audit ?? (() => {}),
    now: options.now ?? (() => Math.floor(Date.now() / 1000)),
    apiKeys: {
      prefixes: options.apiKeys?.prefixes ?? DEFAULT_PREFIXES,
      revokeOnCreatorLeave: options.apiKeys?.revokeOnCreatorLeave ?? false,
    },
    meter: options.meter,
    signIn: options.signIn ?? { redirectOrigins: new Set() },
    mailer: options.mailer,
  }
  const apiKeys = apiKeyOperations(ctx)
  return {
    store: ctx.store,
    roles: ctx.roles,
    users: userOperations(ctx),
    orgs: orgOperations(ctx),
    apiKeys,
    accountKeys: accountKeyOperations(ctx, apiKeys),
    tokens: tokenOperations(ctx),
    magicLinks: magicLinkOperations(ctx),
    invites: inviteOperations(ctx),
  }
}
