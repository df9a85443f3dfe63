export type {
  AcceptedInvite,
  ApiKey,
  ApiKeyPatch,
  ApiKeyQuery,
  ApiKeyType,
  ApiKeyUsage,
  ApiKeyWithOwner,
  NewApiKey,
  StoredApiKey,
  JsonObject,
  Invite,
  InviteAcceptor,
  Membership,
  NewInvite,
  NewOrg,
  NewUser,
  Org,
  OrgOrderBy,
  OrgPatch,
  Page,
  Paging,
  PasswordChange,
  MagicLinkUse,
  NewMagicLink,
  Store,
  StoredSigningKey,
  SubjectUsage,
  UsageSubjectKind,
  User,
  UserOrderBy,
  UserPatch,
} from './types.ts'
export { StoreConflictError, StoreLimitError, StoreNotFoundError } from './types.ts'
export { openStore } from './open.ts'
export type { OpenStoreOptions } from './open.ts'
export { createSqliteStore } from './sqlite.ts'
export type { SqliteStoreOptions } from './sqlite.ts'
export { createPostgresStore } from './postgres.ts'
export type { PostgresStoreOptions } from './postgres.ts'
export { reportingUnavailable, StoreUnavailableError } from './unavailable.ts'
export { watchStoreHealth } from './health.ts'
export type { StoreHealth } from './health.ts'
