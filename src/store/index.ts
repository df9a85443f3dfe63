export type {
  JsonObject,
  Membership,
  NewOrg,
  NewUser,
  Org,
  OrgOrderBy,
  OrgPatch,
  Page,
  Paging,
  Store,
  StoredSigningKey,
  User,
  UserOrderBy,
  UserPatch,
} from './types.ts'
export { StoreConflictError, StoreLimitError, StoreNotFoundError } from './types.ts'
export { openStore } from './open.ts'
export { createSqliteStore } from './sqlite.ts'
