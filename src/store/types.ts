/**
 * The identity backend's data, as the store keeps it. Field names follow PropelAuth's backend
 * API (snake_case), so the admin API can return these records as they are. Times are Unix
 * seconds; JSON columns are plain objects.
 */

export type JsonObject = Record<string, unknown>

export type User = {
  user_id: string
  email: string
  email_confirmed: boolean
  username: string | null
  first_name: string | null
  last_name: string | null
  picture_url: string | null
  properties: JsonObject
  metadata: JsonObject
  /** false once disabled: the user's tokens and personal keys stop working. */
  enabled: boolean
  can_create_orgs: boolean
  /** The id in the system the user was migrated from. */
  legacy_user_id: string | null
  /** Whether a password hash is stored; the hash itself never leaves the store's password methods. */
  has_password: boolean
  /** PropelAuth's ask_user_to_update_password_on_login: the login answer tells the client to ask for a new one. */
  update_password_required: boolean
  created_at: number
  last_active_at: number
  updated_at: number
}

export type NewUser = {
  email: string
  email_confirmed?: boolean
  username?: string | null
  first_name?: string | null
  last_name?: string | null
  picture_url?: string | null
  properties?: JsonObject
  metadata?: JsonObject
  enabled?: boolean
  can_create_orgs?: boolean
  legacy_user_id?: string | null
  /** A PHC string made or checked by the directory's password rules. */
  password_hash?: string | null
  update_password_required?: boolean
}

export type UserPatch = Partial<
  Pick<
    User,
    | 'email'
    | 'email_confirmed'
    | 'username'
    | 'first_name'
    | 'last_name'
    | 'picture_url'
    | 'properties'
    | 'metadata'
    | 'enabled'
    | 'can_create_orgs'
    | 'last_active_at'
    | 'update_password_required'
  >
>

export type NewMagicLink = { token_hash: string; user_id: string; redirect_to: string | null; expires_at: number }
export type MagicLinkUse = { user_id: string; redirect_to: string | null }

/**
 * An invitation to an org, as stored: never the secret, only its SHA-256 (hex). The email is kept
 * lowercased; the role is one the config knows when the invite is made. At most one invite per
 * (org, email) is pending (neither accepted nor revoked); an expired one still counts until it is
 * replaced.
 */
export type Invite = {
  invite_id: string
  org_id: string
  email: string
  role: string
  /** The user who invited, when one did (null: the admin API or the CLI). */
  inviter_user_id: string | null
  created_at: number
  expires_at: number
  accepted_at: number | null
  /** The user the acceptance made a member. */
  accepted_user_id: string | null
  revoked_at: number | null
}

export type NewInvite = Pick<Invite, 'org_id' | 'email' | 'role' | 'inviter_user_id' | 'expires_at'> & { secret_hash: string }

/** Who accepts an invite: a user who exists, or a new user the acceptance creates (in the same transaction). */
export type InviteAcceptor = { user_id: string } | { new_user: NewUser }

export type AcceptedInvite = { invite: Invite; user: User; membership: Membership }

export type PasswordChange = { hash: string | null; update_password_required?: boolean; expected?: string }

export type Org = {
  org_id: string
  name: string
  url_safe_org_name: string
  domain: string | null
  enable_auto_joining_by_domain: boolean
  members_must_have_matching_domain: boolean
  /** null: no limit. */
  max_users: number | null
  metadata: JsonObject
  /** Whether the org may set up a SAML connection (PropelAuth's allow/disallow SAML); gatehouse stores the flag only. */
  can_setup_saml: boolean
  created_at: number
  updated_at: number
}

export type NewOrg = {
  name: string
  domain?: string | null
  enable_auto_joining_by_domain?: boolean
  members_must_have_matching_domain?: boolean
  max_users?: number | null
  metadata?: JsonObject
  can_setup_saml?: boolean
}

export type OrgPatch = Partial<Omit<NewOrg, never>>

export type Membership = {
  org_id: string
  user_id: string
  role: string
  created_at: number
}

export type UserOrderBy = 'CREATED_AT_ASC' | 'CREATED_AT_DESC' | 'LAST_ACTIVE_AT_ASC' | 'LAST_ACTIVE_AT_DESC' | 'EMAIL' | 'USERNAME'
/** LAST_ACTIVE_AT_*: by the latest last_active_at of the org's members (an org without members by its creation). */
export type OrgOrderBy = 'CREATED_AT_ASC' | 'CREATED_AT_DESC' | 'LAST_ACTIVE_AT_ASC' | 'LAST_ACTIVE_AT_DESC' | 'NAME'

/** `page_number` is 0-based, as in PropelAuth's API. */
export type Paging = { page_size: number; page_number: number }

export type Page<T> = { items: T[]; total: number }

/** A signing key of gatehouse's own access-token issuer, persisted so every replica and restart agrees. */
export type StoredSigningKey = {
  kid: string
  alg: string
  /** The private key as a JWK (JSON). */
  private_jwk: JsonObject
  created_at: number
}

export type ApiKeyType = 'personal' | 'org' | 'generic'

/**
 * An API key as stored: never the secret, only its SHA-256 hash (hex) and a short display
 * fragment. Field names follow the admin API (PropelAuth's where it has them).
 */
export type ApiKey = {
  /** 32 hex characters, like PropelAuth's api_key_id. */
  api_key_id: string
  type: ApiKeyType
  /** Owner of a personal key; for an org key, the user who created it (may be null). */
  user_id: string | null
  /** Owner of an org key. */
  org_id: string | null
  name: string | null
  description: string | null
  metadata: JsonObject
  /** Empty: the key has its owner's permissions; otherwise they are narrowed to these. */
  scopes: string[]
  /** Requests per minute for this key, replacing the configured budget. */
  rate_limit_override: number | null
  created_by: string | null
  created_at: number
  /** Unix seconds; null never expires. */
  expires_at: number | null
  last_used_at: number | null
  archived_at: number | null
  archive_reason: string | null
  /** Protected keys cannot be rotated, archived or deleted. */
  protected: boolean
  /** The first characters of the secret, for people to recognise it (e.g. `gh_live_Ab3d…`). */
  display: string
  /** Whether it was imported from another system (any format) rather than generated. */
  imported: boolean
  /** For an org key: stop when `created_by` leaves the org. */
  revoke_on_creator_leave: boolean
  updated_at: number
}

/** A key found by its secret, and what its validity depends on (PropelAuth's automatic invalidations). */
export type ApiKeyWithOwner = {
  key: StoredApiKey
  /** A personal key's owner, when the user exists, with every org they belong to (in join order). */
  owner?: { user: User; memberships: { org: Org; membership: Membership }[] }
  /** An org key's org, when it exists, with the membership of the key's creator (created_by, else user_id) if any. */
  org?: { org: Org; creatorMembership: Membership | undefined }
}

export type StoredApiKey = ApiKey & {
  /** SHA-256 of the secret, hex. */
  secret_hash: string
  /** After a rotation with grace: the previous secret's hash and until when it still works. */
  previous_secret_hash: string | null
  previous_valid_until: number | null
}

export type NewApiKey = Pick<ApiKey, 'type' | 'user_id' | 'org_id' | 'expires_at'> &
  Partial<
    Pick<
      ApiKey,
      | 'name'
      | 'description'
      | 'metadata'
      | 'scopes'
      | 'rate_limit_override'
      | 'created_by'
      | 'protected'
      | 'imported'
      | 'revoke_on_creator_leave'
    >
  > & {
    secret_hash: string
    display: string
  }

export type ApiKeyPatch = Partial<Pick<ApiKey, 'name' | 'description' | 'metadata' | 'scopes' | 'rate_limit_override' | 'expires_at'>>

export type ApiKeyQuery = Paging & {
  archived: boolean
  org_id?: string
  user_id?: string
  type?: ApiKeyType
  /** Partial, case-insensitive match on the name. */
  query?: string
}

/** One day's request count of one key (`date` is YYYY-MM-DD, UTC). */
export type ApiKeyUsage = { api_key_id: string; date: string; count: number }
/** Whose usage: a user's (every request made as them) or an org's (every request authorized against it). */
export type UsageSubjectKind = 'user' | 'org'
export type SubjectUsage = { kind: UsageSubjectKind; id: string; date: string; count: number }

/**
 * One interface over every engine (SQLite now, PostgreSQL later). Lookups of absent records
 * resolve to undefined; writes that break a uniqueness rule reject with StoreConflictError.
 */
export interface Store {
  createUser(input: NewUser): Promise<User>
  getUser(userId: string): Promise<User | undefined>
  getUserByEmail(email: string): Promise<User | undefined>
  getUserByUsername(username: string): Promise<User | undefined>
  /** Unknown ones are omitted; each user appears once. */
  getUsersByIds(userIds: readonly string[]): Promise<User[]>
  getUsersByEmails(emails: readonly string[]): Promise<User[]>
  getUsersByUsernames(usernames: readonly string[]): Promise<User[]>
  queryUsers(query: Paging & { order_by: UserOrderBy; email_or_username?: string; legacy_user_id?: string }): Promise<Page<User>>
  updateUser(userId: string, patch: UserPatch): Promise<User | undefined>
  /** Deletes the user and their memberships. */
  deleteUser(userId: string): Promise<boolean>
  /** The stored password hash of the user with this email (case-insensitive); null when they have none. */
  getPasswordHashByEmail(email: string): Promise<{ user: User; password_hash: string | null } | undefined>
  /**
   * Replaces (null: clears) the password hash, and sets update_password_required when given.
   * `expected` makes it a compare-and-set: the write happens only while the stored hash is still
   * that one (a rehash at login must not overwrite a password an admin set in between).
   */
  setPasswordHash(userId: string, change: PasswordChange): Promise<User | undefined>

  createOrg(input: NewOrg): Promise<Org>
  getOrg(orgId: string): Promise<Org | undefined>
  queryOrgs(query: Paging & { order_by: OrgOrderBy; name?: string }): Promise<Page<Org>>
  updateOrg(orgId: string, patch: OrgPatch): Promise<Org | undefined>
  /** Deletes the org and its memberships. */
  deleteOrg(orgId: string): Promise<boolean>

  /**
   * Adds a member in one transaction with the `max_users` check, so concurrent adds cannot
   * overshoot: rejects with StoreLimitError when the org is full, StoreConflictError when the
   * user is already a member, StoreNotFoundError when the org or the user does not exist.
   */
  addMember(orgId: string, userId: string, role: string): Promise<Membership>
  changeRole(orgId: string, userId: string, role: string): Promise<Membership | undefined>
  removeMember(orgId: string, userId: string): Promise<boolean>
  getMembership(orgId: string, userId: string): Promise<Membership | undefined>
  /** The org's members with their user records, ordered by join time. */
  listOrgMembers(orgId: string, query: Paging & { role?: string }): Promise<Page<{ user: User; membership: Membership }>>
  /** Every org the user belongs to, with the org record. */
  listUserMemberships(userId: string): Promise<{ org: Org; membership: Membership }[]>

  createApiKey(input: NewApiKey): Promise<ApiKey>
  getApiKey(apiKeyId: string): Promise<StoredApiKey | undefined>
  /** The key whose current secret, or previous secret still in its grace period at `now`, has this hash. */
  findApiKeyBySecretHash(secretHash: string, now: number): Promise<StoredApiKey | undefined>
  /**
   * The same key with everything validating it reads, in one indexed query (a key not in the
   * proxy's cache costs one round trip, not three): a personal key's owner with the orgs they
   * belong to, an org key's org with its creator's membership.
   */
  findApiKeyWithOwner(secretHash: string, now: number): Promise<ApiKeyWithOwner | undefined>
  /** Current (archived_at null) or archived keys, newest first, with the owner filters. */
  listApiKeys(query: ApiKeyQuery): Promise<Page<ApiKey>>
  updateApiKey(apiKeyId: string, patch: ApiKeyPatch): Promise<ApiKey | undefined>
  /** New secret; the old one keeps working until `previousValidUntil` (null: stops at once). */
  rotateApiKey(
    apiKeyId: string,
    secret: { secret_hash: string; display: string },
    previousValidUntil: number | null,
  ): Promise<ApiKey | undefined>
  archiveApiKey(apiKeyId: string, reason: string | null): Promise<ApiKey | undefined>
  /** Removes the key and its usage. */
  deleteApiKey(apiKeyId: string): Promise<boolean>
  /** Archives the creator-bound org keys of `userId` in `orgId` (the creator left); returns their ids. */
  archiveKeysOfDepartedCreator(orgId: string, userId: string, reason: string): Promise<string[]>
  /** Adds counts (a batch from the in-memory counter) and moves last_used_at forward. */
  recordApiKeyUsage(batch: readonly { api_key_id: string; date: string; count: number; last_used_at: number }[]): Promise<void>
  /** Summed counts for the date, over the keys matching the filters. */
  apiKeyUsage(query: { date: string; api_key_id?: string; user_id?: string; org_id?: string }): Promise<number>
  /** Adds per-user and per-org counts (a batch from the in-memory counter). */
  recordSubjectUsage(batch: readonly SubjectUsage[]): Promise<void>
  /** The count of one user or org on the date (0 when none was recorded). */
  subjectUsage(query: { kind: UsageSubjectKind; id: string; date: string }): Promise<number>

  createMagicLink(link: NewMagicLink): Promise<void>
  /**
   * Marks the link with this secret hash used, if it is unused and unexpired at `now`, and
   * answers it; undefined otherwise (one conditional write, so two followers cannot both succeed).
   * `found` tells an unknown hash from a used or expired link, for the log.
   */
  useMagicLink(tokenHash: string, now: number): Promise<{ used?: MagicLinkUse; found: boolean }>

  /** Stores the invite, replacing the pending one for the same org and email (its link stops working). */
  createInvite(input: NewInvite): Promise<Invite>
  getInviteBySecretHash(secretHash: string): Promise<Invite | undefined>
  /** Pending invites unexpired at `now`, oldest first; of one org, or of every org. */
  listPendingInvites(query: Paging & { org_id?: string; now: number }): Promise<Page<Invite>>
  /** Revokes the pending invite of this org and email; false when there is none. */
  revokeInvite(orgId: string, email: string, now: number): Promise<boolean>
  /**
   * In one transaction: marks the invite with this secret hash accepted, if it is pending and
   * unexpired at `now` (a conditional update, so two acceptances cannot both win), creates the
   * new user when asked, and adds the membership with the invite's role and the `max_users` check.
   * undefined when the invite is not acceptable; StoreLimitError (org full) or StoreConflictError
   * (already a member, email taken) roll all of it back, leaving the invite pending.
   */
  acceptInvite(secretHash: string, now: number, acceptor: InviteAcceptor): Promise<AcceptedInvite | undefined>

  listSigningKeys(): Promise<StoredSigningKey[]>
  /** Inserts unless the kid exists; returns whether it inserted. */
  addSigningKey(key: StoredSigningKey): Promise<boolean>

  close(): Promise<void>
}

/** A write that would break a uniqueness rule; `field` names it (email, username, membership). */
export class StoreConflictError extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(message)
    this.name = 'StoreConflictError'
    this.field = field
  }
}

/** A write that would exceed a limit, e.g. an org's max_users. */
export class StoreLimitError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StoreLimitError'
  }
}

/** A write that refers to a record that does not exist; `entity` names it (org, user). */
export class StoreNotFoundError extends Error {
  readonly entity: string
  constructor(entity: string, message: string) {
    super(message)
    this.name = 'StoreNotFoundError'
    this.entity = entity
  }
}
