import type { Insertable, Selectable, Updateable } from 'kysely'
import type { EngineAdapter } from './engine.ts'
import type {
  ApiKeysTable,
  DbBool,
  DbJson,
  DbJsonList,
  InvitesTable,
  MembershipsTable,
  OrgsTable,
  SigningKeysTable,
  UsersTable,
} from './schema.ts'
import type {
  ApiKey,
  ApiKeyPatch,
  ApiKeyType,
  Invite,
  JsonObject,
  Membership,
  NewApiKey,
  NewOrg,
  NewUser,
  Org,
  OrgPatch,
  StoredApiKey,
  StoredSigningKey,
  User,
  UserPatch,
} from './types.ts'

/**
 * The one place where records become rows and rows become records, so engine differences in how
 * booleans, JSON and big integers are kept stop here.
 */

/** The columns each record is built from: a table's row without the lowercased copies kept for search. */
export type UserRow = Omit<Selectable<UsersTable>, 'email_lower' | 'username_lower'>
export type OrgRow = Omit<Selectable<OrgsTable>, 'name_lower'>
export type MembershipRow = Selectable<MembershipsTable>
export type StoredApiKeyRow = Omit<Selectable<ApiKeysTable>, 'name_lower'>

const fromBool = (value: DbBool): boolean => value === true || value === 1
const fromJson = (value: DbJson): JsonObject => (typeof value === 'string' ? (JSON.parse(value) as JsonObject) : value)
/** Every engine accepts JSON text: SQLite keeps it as is, PostgreSQL parses it into jsonb. */
const toJson = (value: JsonObject): string => JSON.stringify(value)
const fromSeconds = (value: number | string): number => Number(value)
const fromOptionalSeconds = (value: number | string | null): number | null => (value === null ? null : Number(value))
const fromJsonList = (value: DbJsonList): string[] => (typeof value === 'string' ? (JSON.parse(value) as string[]) : (value as string[]))
const toJsonList = (value: readonly string[]): string => JSON.stringify(value)

export function toUser(row: UserRow): User {
  return {
    user_id: row.user_id,
    email: row.email,
    email_confirmed: fromBool(row.email_confirmed),
    username: row.username,
    first_name: row.first_name,
    last_name: row.last_name,
    picture_url: row.picture_url,
    properties: fromJson(row.properties),
    metadata: fromJson(row.metadata),
    enabled: fromBool(row.enabled),
    can_create_orgs: fromBool(row.can_create_orgs),
    legacy_user_id: row.legacy_user_id,
    has_password: row.password_hash !== null,
    update_password_required: fromBool(row.update_password_required),
    created_at: fromSeconds(row.created_at),
    last_active_at: fromSeconds(row.last_active_at),
    updated_at: fromSeconds(row.updated_at),
  }
}

export function toOrg(row: OrgRow): Org {
  return {
    org_id: row.org_id,
    name: row.name,
    url_safe_org_name: row.url_safe_org_name,
    domain: row.domain,
    enable_auto_joining_by_domain: fromBool(row.enable_auto_joining_by_domain),
    members_must_have_matching_domain: fromBool(row.members_must_have_matching_domain),
    max_users: row.max_users,
    metadata: fromJson(row.metadata),
    can_setup_saml: fromBool(row.can_setup_saml),
    created_at: fromSeconds(row.created_at),
    updated_at: fromSeconds(row.updated_at),
  }
}

export function toMembership(row: MembershipRow): Membership {
  return { org_id: row.org_id, user_id: row.user_id, role: row.role, created_at: fromSeconds(row.created_at) }
}

export function toInvite(row: Selectable<InvitesTable>): Invite {
  return {
    invite_id: row.invite_id,
    org_id: row.org_id,
    email: row.email,
    role: row.role,
    inviter_user_id: row.inviter_user_id,
    created_at: fromSeconds(row.created_at),
    expires_at: fromSeconds(row.expires_at),
    accepted_at: fromOptionalSeconds(row.accepted_at),
    accepted_user_id: row.accepted_user_id,
    revoked_at: fromOptionalSeconds(row.revoked_at),
  }
}

export function toSigningKey(row: Selectable<SigningKeysTable>): StoredSigningKey {
  return { kid: row.kid, alg: row.alg, private_jwk: fromJson(row.private_jwk), created_at: fromSeconds(row.created_at) }
}

export function signingKeyRow(key: StoredSigningKey): Insertable<SigningKeysTable> {
  return { kid: key.kid, alg: key.alg, private_jwk: toJson(key.private_jwk), created_at: key.created_at }
}

/**
 * Lowercasing in JavaScript rather than SQL keeps case-insensitive matching identical across
 * engines: SQLite's lower() folds ASCII only.
 */
const lower = (value: string): string => value.toLowerCase()

export function newUserRow(userId: string, input: NewUser, now: number, db: EngineAdapter): Insertable<UsersTable> {
  const username = input.username ?? null
  return {
    user_id: userId,
    email: input.email,
    email_lower: lower(input.email),
    email_confirmed: db.toBool(input.email_confirmed ?? false),
    username,
    username_lower: username === null ? null : lower(username),
    first_name: input.first_name ?? null,
    last_name: input.last_name ?? null,
    picture_url: input.picture_url ?? null,
    properties: toJson(input.properties ?? {}),
    metadata: toJson(input.metadata ?? {}),
    enabled: db.toBool(input.enabled ?? true),
    can_create_orgs: db.toBool(input.can_create_orgs ?? false),
    legacy_user_id: input.legacy_user_id ?? null,
    password_hash: input.password_hash ?? null,
    update_password_required: db.toBool(input.update_password_required ?? false),
    created_at: now,
    last_active_at: now,
    updated_at: now,
  }
}

/** Only the fields present in the patch change; derived columns follow their source. */
export function userPatchRow(patch: UserPatch, now: number, db: EngineAdapter): Updateable<UsersTable> {
  const row: Updateable<UsersTable> = { updated_at: now }
  if (patch.email !== undefined) {
    row.email = patch.email
    row.email_lower = lower(patch.email)
  }
  if (patch.username !== undefined) {
    row.username = patch.username
    row.username_lower = patch.username === null ? null : lower(patch.username)
  }
  if (patch.email_confirmed !== undefined) row.email_confirmed = db.toBool(patch.email_confirmed)
  if (patch.first_name !== undefined) row.first_name = patch.first_name
  if (patch.last_name !== undefined) row.last_name = patch.last_name
  if (patch.picture_url !== undefined) row.picture_url = patch.picture_url
  if (patch.properties !== undefined) row.properties = toJson(patch.properties)
  if (patch.metadata !== undefined) row.metadata = toJson(patch.metadata)
  if (patch.enabled !== undefined) row.enabled = db.toBool(patch.enabled)
  if (patch.can_create_orgs !== undefined) row.can_create_orgs = db.toBool(patch.can_create_orgs)
  if (patch.last_active_at !== undefined) row.last_active_at = patch.last_active_at
  if (patch.update_password_required !== undefined) row.update_password_required = db.toBool(patch.update_password_required)
  return row
}

/**
 * The org's slug: lowercase ASCII letters and digits, every other run of characters one dash,
 * none at the ends. Accents are stripped first so "Café" gives "cafe" rather than "caf".
 */
export function urlSafeOrgName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
}

function nameColumns(name: string): Pick<Insertable<OrgsTable>, 'name' | 'name_lower' | 'url_safe_org_name'> {
  return { name, name_lower: lower(name), url_safe_org_name: urlSafeOrgName(name) }
}

export function newOrgRow(orgId: string, input: NewOrg, now: number, db: EngineAdapter): Insertable<OrgsTable> {
  return {
    org_id: orgId,
    ...nameColumns(input.name),
    domain: input.domain ?? null,
    enable_auto_joining_by_domain: db.toBool(input.enable_auto_joining_by_domain ?? false),
    members_must_have_matching_domain: db.toBool(input.members_must_have_matching_domain ?? false),
    max_users: input.max_users ?? null,
    metadata: toJson(input.metadata ?? {}),
    can_setup_saml: db.toBool(input.can_setup_saml ?? false),
    created_at: now,
    updated_at: now,
  }
}

export function orgPatchRow(patch: OrgPatch, now: number, db: EngineAdapter): Updateable<OrgsTable> {
  const row: Updateable<OrgsTable> = { updated_at: now }
  if (patch.name !== undefined) Object.assign(row, nameColumns(patch.name))
  if (patch.domain !== undefined) row.domain = patch.domain
  if (patch.enable_auto_joining_by_domain !== undefined) {
    row.enable_auto_joining_by_domain = db.toBool(patch.enable_auto_joining_by_domain)
  }
  if (patch.members_must_have_matching_domain !== undefined) {
    row.members_must_have_matching_domain = db.toBool(patch.members_must_have_matching_domain)
  }
  if (patch.max_users !== undefined) row.max_users = patch.max_users
  if (patch.metadata !== undefined) row.metadata = toJson(patch.metadata)
  if (patch.can_setup_saml !== undefined) row.can_setup_saml = db.toBool(patch.can_setup_saml)
  return row
}

/** The key as the admin API may show it: the secret's hashes are left out, not merely typed away. */
export function toApiKey(row: StoredApiKeyRow): ApiKey {
  return {
    api_key_id: row.api_key_id,
    type: row.type as ApiKeyType,
    user_id: row.user_id,
    org_id: row.org_id,
    name: row.name,
    description: row.description,
    metadata: fromJson(row.metadata),
    scopes: fromJsonList(row.scopes),
    rate_limit_override: row.rate_limit_override,
    created_by: row.created_by,
    created_at: fromSeconds(row.created_at),
    expires_at: fromOptionalSeconds(row.expires_at),
    last_used_at: fromOptionalSeconds(row.last_used_at),
    archived_at: fromOptionalSeconds(row.archived_at),
    archive_reason: row.archive_reason,
    protected: fromBool(row.protected),
    display: row.display,
    imported: fromBool(row.imported),
    revoke_on_creator_leave: fromBool(row.revoke_on_creator_leave),
    updated_at: fromSeconds(row.updated_at),
  }
}

export function toStoredApiKey(row: StoredApiKeyRow): StoredApiKey {
  // Added to the record rather than spread into a copy of it: the copy was most of an uncached key's decoding.
  return Object.assign(toApiKey(row), {
    secret_hash: row.secret_hash,
    previous_secret_hash: row.previous_secret_hash,
    previous_valid_until: fromOptionalSeconds(row.previous_valid_until),
  })
}

const apiKeyName = (name: string | null): Pick<Insertable<ApiKeysTable>, 'name' | 'name_lower'> => ({
  name,
  name_lower: name === null ? null : lower(name),
})

export function newApiKeyRow(apiKeyId: string, input: NewApiKey, now: number, db: EngineAdapter): Insertable<ApiKeysTable> {
  return {
    api_key_id: apiKeyId,
    type: input.type,
    user_id: input.user_id,
    org_id: input.org_id,
    secret_hash: input.secret_hash,
    previous_secret_hash: null,
    previous_valid_until: null,
    ...apiKeyName(input.name ?? null),
    description: input.description ?? null,
    metadata: toJson(input.metadata ?? {}),
    scopes: toJsonList(input.scopes ?? []),
    rate_limit_override: input.rate_limit_override ?? null,
    created_by: input.created_by ?? null,
    created_at: now,
    expires_at: input.expires_at,
    last_used_at: null,
    archived_at: null,
    archive_reason: null,
    protected: db.toBool(input.protected ?? false),
    display: input.display,
    imported: db.toBool(input.imported ?? false),
    revoke_on_creator_leave: db.toBool(input.revoke_on_creator_leave ?? false),
    updated_at: now,
  }
}

export function apiKeyPatchRow(patch: ApiKeyPatch, now: number): Updateable<ApiKeysTable> {
  const row: Updateable<ApiKeysTable> = { updated_at: now }
  if (patch.name !== undefined) Object.assign(row, apiKeyName(patch.name))
  if (patch.description !== undefined) row.description = patch.description
  if (patch.metadata !== undefined) row.metadata = toJson(patch.metadata)
  if (patch.scopes !== undefined) row.scopes = toJsonList(patch.scopes)
  if (patch.rate_limit_override !== undefined) row.rate_limit_override = patch.rate_limit_override
  if (patch.expires_at !== undefined) row.expires_at = patch.expires_at
  return row
}
