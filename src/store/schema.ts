import type { ColumnDataType, ColumnType, Expression } from 'kysely'
import type { JsonObject, UsageSubjectKind } from './types.ts'

/**
 * The one SQL schema as Kysely sees it. Engines differ only in how a few column kinds are kept,
 * so those are typed as the union of both engines' values and converted in rows.ts alone.
 */

/** 0/1 in SQLite, which has no boolean type; a real boolean in PostgreSQL. */
export type DbBool = number | boolean
/** Text in SQLite; PostgreSQL's jsonb arrives already parsed. */
export type DbJson = string | JsonObject
/** A JSON array column (an API key's scopes), kept like DbJson. */
export type DbJsonList = string | unknown[]
/** Whole Unix seconds; PostgreSQL's bigint arrives as a string, so reads accept both. */
export type DbSeconds = ColumnType<number | string, number, number>

/** The SQL type each engine gives the column kinds above, for the migrations. */
export type ColumnTypes = {
  boolean: ColumnDataType
  json: ColumnDataType
  seconds: ColumnDataType
  /**
   * Text that the store sorts by or breaks ties on. SQLite compares text bytewise; PostgreSQL
   * gives these columns `COLLATE "C"` so pages come out in the same order whatever the
   * database's locale.
   */
  sortedText: ColumnDataType | Expression<unknown>
}

export interface UsersTable {
  user_id: string
  email: string
  /** Lowercased email: its unique index makes email uniqueness case-insensitive on every engine. */
  email_lower: string
  email_confirmed: DbBool
  username: string | null
  username_lower: string | null
  first_name: string | null
  last_name: string | null
  picture_url: string | null
  properties: DbJson
  metadata: DbJson
  enabled: DbBool
  can_create_orgs: DbBool
  legacy_user_id: string | null
  /** Read only by the store's password methods; never part of a User. */
  password_hash: string | null
  update_password_required: DbBool
  created_at: DbSeconds
  last_active_at: DbSeconds
  updated_at: DbSeconds
}

export interface OrgsTable {
  org_id: string
  name: string
  /** Lowercased name for case-insensitive search that agrees across engines (SQLite's lower() is ASCII-only). */
  name_lower: string
  url_safe_org_name: string
  domain: string | null
  enable_auto_joining_by_domain: DbBool
  members_must_have_matching_domain: DbBool
  max_users: number | null
  metadata: DbJson
  can_setup_saml: DbBool
  created_at: DbSeconds
  updated_at: DbSeconds
}

export interface MembershipsTable {
  org_id: string
  user_id: string
  role: string
  created_at: DbSeconds
}

export interface SigningKeysTable {
  kid: string
  alg: string
  private_jwk: DbJson
  created_at: DbSeconds
}

/**
 * API keys. Owners are plain columns, not foreign keys: a key of a deleted user or org stays
 * (archived or not) and validation stops it by finding no owner.
 */
export interface ApiKeysTable {
  api_key_id: string
  type: string
  user_id: string | null
  org_id: string | null
  secret_hash: string
  previous_secret_hash: string | null
  previous_valid_until: DbSeconds | null
  name: string | null
  /** Lowercased name, for the case-insensitive `query` filter. */
  name_lower: string | null
  description: string | null
  metadata: DbJson
  scopes: DbJsonList
  rate_limit_override: number | null
  created_by: string | null
  created_at: DbSeconds
  expires_at: DbSeconds | null
  last_used_at: DbSeconds | null
  archived_at: DbSeconds | null
  archive_reason: string | null
  protected: DbBool
  display: string
  imported: DbBool
  revoke_on_creator_leave: DbBool
  updated_at: DbSeconds
}

/** Requests per key per UTC day (`date` YYYY-MM-DD). */
export interface ApiKeyUsageTable {
  api_key_id: string
  date: string
  count: ColumnType<number | string, number, number>
}

/** Requests per user or org per UTC day (`date` YYYY-MM-DD), whichever credential they came with. */
export interface SubjectUsageTable {
  subject_kind: UsageSubjectKind
  subject_id: string
  date: string
  count: ColumnType<number | string, number, number>
}

/** One-time sign-in links; the secret itself is never stored. */
export interface MagicLinksTable {
  token_hash: string
  user_id: string
  redirect_to: string | null
  created_at: DbSeconds
  expires_at: DbSeconds
  used_at: DbSeconds | null
}

/** Org invitations; the secret itself is never stored. */
export interface InvitesTable {
  invite_id: string
  org_id: string
  /** Lowercased. */
  email: string
  role: string
  secret_hash: string
  inviter_user_id: string | null
  created_at: DbSeconds
  expires_at: DbSeconds
  accepted_at: DbSeconds | null
  accepted_user_id: string | null
  revoked_at: DbSeconds | null
}

/** Tables by name. */
export interface Database {
  users: UsersTable
  orgs: OrgsTable
  memberships: MembershipsTable
  signing_keys: SigningKeysTable
  api_keys: ApiKeysTable
  api_key_usage: ApiKeyUsageTable
  subject_usage: SubjectUsageTable
  magic_links: MagicLinksTable
  invites: InvitesTable
}
