export { openDirectory } from './open.ts'
export type { Directory, OpenDirectoryOptions } from './open.ts'
export { createDirectoryOperations } from './operations.ts'
export type { DirectoryOperations, DirectoryOperationsOptions } from './operations.ts'
export type { AccessTokenIssuer, ApiKeySettings, AuditEvent, DirectoryChange, SignInSettings } from './context.ts'
export { MAGIC_LINK_PATH } from './magic-links.ts'
export type { NewMagicLinkInput } from './magic-links.ts'
export { INVITE_HOURS, INVITE_PATH } from './invites.ts'
export type { AcceptInput, NewInviteInput, PendingInvite } from './invites.ts'
export { EXPIRATION_DAYS } from './api-keys.ts'
export type { AccountKeyInput, AccountKeys, ManagedOrgKeys } from './account-keys.ts'
export type { ApiKeyListQuery, KeyPatchInput, NewKeyInput, ValidatedKey, ValidationKind } from './api-keys.ts'
export {
  ApiKeyRateLimitedError,
  ApiKeyRefusedError,
  ConflictError,
  InvalidInputError,
  InviteRefusedError,
  LinkRefusedError,
  LoginRefusedError,
  NotFoundError,
  NotPermittedError,
} from './errors.ts'
export type { ApiKeyRefusal, InviteRefusal, LinkRefusal, LoginRefusal } from './errors.ts'
export type { NewUserInput } from './users.ts'
export { ARGON2ID_PARAMETERS, PASSWORD_LENGTH } from './passwords.ts'
export { allowedRedirect, signInSettingsOf } from './redirects.ts'
export { toUserMetadata } from './user-metadata.ts'
export type { UserMetadata } from './user-metadata.ts'
