import { z } from '@hono/zod-openapi'
import { EXPIRATION_DAYS, INVITE_HOURS, PASSWORD_LENGTH } from '../directory/index.ts'
import { NO_EFFECT_FIELDS, PROPELAUTH_API_KEY_TYPES } from '../propelauth/index.ts'

/**
 * The zod schemas of the management API. The same objects validate requests and generate
 * /openapi.json, so the document cannot drift from what the API accepts. Bodies are strict
 * objects: an unknown field (a typo, or a `password`) is a 400 naming it rather than silently
 * ignored. Query strings are as strict (query.ts): the keys of a route's query schema are the
 * only parameters it takes, each once.
 */

const jsonObject = z.record(z.string(), z.unknown()).openapi({ description: 'Any JSON object' })
const unixSeconds = z.int().openapi({ description: 'Unix time, seconds' })
const id = z.string().min(1).max(255)
// Emails, usernames and names are user input shown to people: bounded so one request cannot bloat the store.
const email = z.email().max(320)
const username = z.string().min(1).max(255)
const personName = z.string().max(255)
const pictureUrl = z.url().max(2048)
// The domain an org's members' emails must end with: a lowercase host name with at least one dot.
const domain = z
  .string()
  .max(253)
  .toLowerCase()
  .regex(/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'must be a domain name such as example.com')
const orgName = z.string().trim().min(1).max(255)
const role = z.string().min(1).max(255)

// Query strings carry text: booleans are the words true and false only, numbers are coerced.
const queryBoolean = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true')
const includeOrgs = { include_orgs: queryBoolean.openapi({ description: 'Add org_id_to_org_info to each user' }) }
const paging = {
  page_size: z.coerce.number().int().min(1).max(100).default(10),
  // Bounded so the row offset stays an exact integer in every engine.
  page_number: z.coerce.number().int().min(0).max(1_000_000).default(0).openapi({ description: '0-based' }),
}

export const userIdParam = z.object({ user_id: id })
export const orgIdParam = z.object({ org_id: id })
export const memberParam = z.object({ org_id: id, user_id: id })
export const emailParam = z.object({ email })
export const usernameParam = z.object({ username })
export const includeOrgsQuery = z.object(includeOrgs)

// ---- users -----------------------------------------------------------------------------------

// The profile fields a user is created with, directly or migrated from another system.
const userProfile = {
  username: username.optional(),
  first_name: personName.optional(),
  last_name: personName.optional(),
  picture_url: pictureUrl.optional(),
  properties: jsonObject.optional(),
  metadata: jsonObject.optional(),
}

const noEffect = z.boolean().optional().openapi({ description: "PropelAuth's field; accepted, no effect in gatehouse" })
const noEffectFields = Object.fromEntries(NO_EFFECT_FIELDS.map((f) => [f, noEffect])) as Record<
  (typeof NO_EFFECT_FIELDS)[number],
  typeof noEffect
>
// Length in characters is the directory's rule; this bound only keeps an oversized body from reaching it.
const password = z
  .string()
  .max(PASSWORD_LENGTH.max * 4)
  .openapi({ description: `${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters; stored as an Argon2id hash, never returned` })
const askToUpdatePassword = z
  .boolean()
  .optional()
  .openapi({ description: 'Sets update_password_required: the login answer tells the client to ask for a new password' })

export const createUserBody = z
  .strictObject({
    email,
    email_confirmed: z.boolean().default(false),
    ...userProfile,
    password: password.optional(),
    ask_user_to_update_password_on_login: askToUpdatePassword,
    ...noEffectFields,
  })
  .openapi('CreateUser')

export const migrateUserBody = z
  .strictObject({
    email,
    email_confirmed: z.boolean(),
    existing_user_id: id.optional().openapi({ description: 'Kept as legacy_user_id' }),
    enabled: z.boolean().default(true),
    ...userProfile,
    existing_password_hash: z.string().max(1024).optional().openapi({
      description: 'A bcrypt ($2a$, $2b$, $2y$) or argon2id hash, verified as given and rehashed at the first successful login',
    }),
    ask_user_to_update_password_on_login: askToUpdatePassword,
    ...noEffectFields,
  })
  .openapi('MigrateUser')

// null clears an optional field; an absent field is left as it is; objects are replaced, not merged.
export const updateUserBody = z
  .strictObject({
    username: username.nullable().optional(),
    first_name: personName.nullable().optional(),
    last_name: personName.nullable().optional(),
    picture_url: pictureUrl.nullable().optional(),
    properties: jsonObject.optional(),
    metadata: jsonObject.optional(),
    update_password_required: z.boolean().optional(),
  })
  .openapi('UpdateUser')

export const setPasswordBody = z
  .strictObject({ password, ask_user_to_update_password_on_login: askToUpdatePassword })
  .openapi('SetUserPassword')

export const updateEmailBody = z
  .strictObject({
    new_email: email,
    require_email_confirmation: z.boolean().openapi({ description: 'true: the new email is unconfirmed; false: confirmed at once' }),
  })
  .openapi('UpdateUserEmail')

const batchList = <T extends z.ZodType>(item: T) => z.array(item).min(1).max(100)
export const batchUsersBody = z
  .strictObject({
    user_ids: batchList(id).optional(),
    emails: batchList(z.string().min(1).max(320)).optional(),
    usernames: batchList(username).optional(),
  })
  .superRefine((body, ctx) => {
    const given = (['user_ids', 'emails', 'usernames'] as const).filter((k) => body[k] !== undefined)
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: given[1] === undefined ? [] : [given[1]],
        message: 'send exactly one of user_ids, emails, usernames',
      })
    }
  })
  .openapi('BatchUsers')

const USER_ORDERS = ['CREATED_AT_ASC', 'CREATED_AT_DESC', 'LAST_ACTIVE_AT_ASC', 'LAST_ACTIVE_AT_DESC', 'EMAIL', 'USERNAME'] as const
export const queryUsersQuery = z.object({
  ...paging,
  order_by: z.enum(USER_ORDERS).default('CREATED_AT_ASC'),
  email_or_username: z.string().min(1).max(320).optional().openapi({ description: 'Partial match in the email or the username' }),
  legacy_user_id: z.string().min(1).max(255).optional().openapi({ description: 'Exact match of the id a migrated user had before' }),
  ...includeOrgs,
})

export const orgMemberInfo = z
  .object({
    org_id: z.string(),
    org_name: z.string(),
    url_safe_org_name: z.string(),
    user_role: z.string(),
    inherited_user_roles_plus_current_role: z.array(z.string()),
    user_permissions: z.array(z.string()),
  })
  .openapi('OrgMemberInfo')

export const userMetadata = z
  .object({
    user_id: z.string(),
    email: z.string(),
    email_confirmed: z.boolean(),
    has_password: z.boolean().openapi({ description: 'Whether the user has a password (the hash is never returned)' }),
    update_password_required: z.boolean(),
    username: z.string().optional(),
    first_name: z.string().optional(),
    last_name: z.string().optional(),
    picture_url: z.string().optional(),
    locked: z.boolean().openapi({ description: 'The opposite of enabled' }),
    enabled: z.boolean(),
    mfa_enabled: z.boolean(),
    can_create_orgs: z.boolean(),
    created_at: unixSeconds,
    last_active_at: unixSeconds,
    legacy_user_id: z.string().optional(),
    metadata: jsonObject,
    properties: jsonObject,
    org_id_to_org_info: z.record(z.string(), orgMemberInfo).optional().openapi({ description: 'Only with include_orgs=true' }),
  })
  .openapi('UserMetadata')

const pageFields = { current_page: z.int(), page_size: z.int(), has_more_results: z.boolean() }
export const usersPage = z.object({ total_users: z.int(), ...pageFields, users: z.array(userMetadata) }).openapi('UsersPage')
export const batchUsersResponse = z
  .record(z.string(), userMetadata)
  .openapi('UsersByLookup', { description: 'Keyed by the looked-up id, email or username; unknown ones are omitted' })
export const userIdResponse = z.object({ user_id: z.string() }).openapi('UserId')

// ---- orgs ------------------------------------------------------------------------------------

export const createOrgBody = z
  .strictObject({
    name: orgName,
    domain: domain.optional(),
    enable_auto_joining_by_domain: z.boolean().default(false),
    members_must_have_matching_domain: z.boolean().default(false),
    max_users: z.int().min(1).optional().openapi({ description: 'Absent: no limit' }),
    metadata: jsonObject.optional(),
    can_setup_saml: z.boolean().optional().openapi({
      description: 'Whether the org may set up a SAML connection at its identity provider (stored and returned; default false)',
    }),
  })
  .openapi('CreateOrg')

export const updateOrgBody = z
  .strictObject({
    name: orgName.optional(),
    domain: domain.nullable().optional(),
    enable_auto_joining_by_domain: z.boolean().optional(),
    members_must_have_matching_domain: z.boolean().optional(),
    max_users: z.int().min(1).nullable().optional().openapi({ description: 'null: no limit' }),
    metadata: jsonObject.optional(),
    can_setup_saml: z.boolean().optional(),
  })
  .openapi('UpdateOrg')

const ORG_ORDERS = ['CREATED_AT_ASC', 'CREATED_AT_DESC', 'LAST_ACTIVE_AT_ASC', 'LAST_ACTIVE_AT_DESC', 'NAME'] as const
export const queryOrgsQuery = z.object({
  ...paging,
  order_by: z.enum(ORG_ORDERS).default('CREATED_AT_ASC'),
  name: z.string().min(1).max(255).optional().openapi({ description: 'Partial match in the name' }),
})

export const orgUsersQuery = z.object({
  ...paging,
  role: role.optional().openapi({ description: 'Only members with exactly this role' }),
  ...includeOrgs,
})

export const org = z
  .object({
    org_id: z.string(),
    name: z.string(),
    url_safe_org_name: z.string(),
    domain: z.string().nullable(),
    enable_auto_joining_by_domain: z.boolean(),
    members_must_have_matching_domain: z.boolean(),
    max_users: z.int().nullable(),
    metadata: jsonObject,
    can_setup_saml: z.boolean(),
    created_at: unixSeconds,
    updated_at: unixSeconds,
  })
  .openapi('Org')

export const orgsPage = z.object({ total_orgs: z.int(), ...pageFields, orgs: z.array(org) }).openapi('OrgsPage')
export const orgCreated = z.object({ org_id: z.string(), name: z.string() }).openapi('OrgCreated')
export const orgUsersPage = z
  .object({ total_users: z.int(), ...pageFields, users: z.array(userMetadata.extend({ role: z.string() })) })
  .openapi('OrgUsersPage')

export const addMemberBody = z.strictObject({ user_id: id, role }).openapi('AddMember')
export const changeRoleBody = z.strictObject({ role }).openapi('ChangeRole')
export const membership = z
  .object({ org_id: z.string(), user_id: z.string(), role: z.string(), created_at: unixSeconds })
  .openapi('Membership')

// ---- access tokens ---------------------------------------------------------------------------

/** One year: PropelAuth sets no documented bound; a year keeps a forgotten test token from living forever. */
const MAX_TOKEN_MINUTES = 525_600

export const createAccessTokenBody = z
  .strictObject({
    user_id: id,
    duration_in_minutes: z.int().min(1).max(MAX_TOKEN_MINUTES),
    active_org_id: id.optional().openapi({ description: 'An org the user belongs to: the token carries only that org' }),
  })
  .openapi('CreateAccessToken')
export const accessTokenResponse = z.object({ access_token: z.string() }).openapi('AccessToken')

// ---- API keys --------------------------------------------------------------------------------

/** The expiry presets of PropelAuth's hosted pages, in days (a month is 30 days, a year 365). */
const EXPIRATIONS = Object.keys(EXPIRATION_DAYS) as (keyof typeof EXPIRATION_DAYS)[]
// Up to the last second of year 9999: keeps every engine's integer and every Date valid.
const MAX_UNIX_SECONDS = 253_402_300_799
const HUNDRED_YEARS = 100 * 365 * 86_400

export const API_KEY_TYPES = ['personal', 'org', 'generic'] as const
const apiKeyType = z.enum(API_KEY_TYPES)
// PropelAuth's spellings (User, Org, Generic) name the same types.
const apiKeyTypeQuery = z
  .enum(Object.keys(PROPELAUTH_API_KEY_TYPES) as [keyof typeof PROPELAUTH_API_KEY_TYPES])
  .transform((t) => PROPELAUTH_API_KEY_TYPES[t])
const keyName = z.string().trim().min(1).max(255)
const keyDescription = z.string().max(500)
const scope = z.string().min(1).max(255)
const scopes = z
  .array(scope)
  .max(100)
  .transform((list) => [...new Set(list)])
  .openapi({ description: "Empty: the key has its owner's permissions; otherwise narrowed to these" })
const rateLimitOverride = z
  .int()
  .min(1)
  .max(1_000_000)
  .openapi({ description: 'Requests per minute for this key, replacing the configured budget' })
const expiresAtSeconds = z
  .int()
  .min(1)
  .max(MAX_UNIX_SECONDS)
  .openapi({ description: 'Absolute expiry, Unix seconds; must be in the future' })
const expiration = z.enum(EXPIRATIONS).openapi({ description: 'A preset counted from now; never: no expiry' })
const expiresInSeconds = z.int().min(1).max(HUNDRED_YEARS).openapi({ description: 'Expiry counted from now' })

const EXPIRY_FIELDS = ['expires_at_seconds', 'expiration', 'expires_in_seconds'] as const
type ExpiryFields = { [K in (typeof EXPIRY_FIELDS)[number]]?: unknown } & { set_to_never_expire?: unknown }

/** At most one way of saying when the key expires. */
function oneExpiry(body: ExpiryFields, ctx: z.RefinementCtx): void {
  const given = [...EXPIRY_FIELDS, 'set_to_never_expire' as const].filter((k) => body[k] !== undefined)
  if (given.length > 1) {
    ctx.addIssue({ code: 'custom', path: [given[1] as string], message: `send at most one of ${given.join(', ')}` })
  }
}

const keyOwnerFields = {
  user_id: id
    .optional()
    .openapi({ description: 'Alone: a personal key of this user. With org_id: the creating user, a member of the org' }),
  org_id: id.optional().openapi({ description: 'An org key of this org. Neither user_id nor org_id: a generic key' }),
  name: keyName.optional(),
  display_name: keyName.optional().openapi({ description: "PropelAuth's name for name" }),
  description: keyDescription.optional(),
  metadata: jsonObject.optional(),
  scopes: scopes.optional(),
  rate_limit_override: rateLimitOverride.optional(),
  expires_at_seconds: expiresAtSeconds.optional(),
  expiration: expiration.optional(),
  expires_in_seconds: expiresInSeconds.optional(),
  created_by: id.optional().openapi({ description: 'The user who created the key (for an org key: a member of the org)' }),
  protected: z.boolean().optional().openapi({ description: 'Protected keys cannot be rotated, archived or deleted' }),
  revoke_on_creator_leave: z
    .boolean()
    .optional()
    .openapi({ description: 'Org keys with a creator: archive the key when the creator leaves the org (default from config)' }),
}

/** display_name is PropelAuth's name: one of them, or the same value twice. */
function oneName(body: { name?: string; display_name?: string }, ctx: z.RefinementCtx): void {
  if (body.name !== undefined && body.display_name !== undefined && body.name !== body.display_name) {
    ctx.addIssue({ code: 'custom', path: ['display_name'], message: 'differs from name; send one of them' })
  }
}

export const createApiKeyBody = z.strictObject(keyOwnerFields).superRefine(oneExpiry).superRefine(oneName).openapi('CreateApiKey')

export const importApiKeyBody = z
  .strictObject({
    imported_api_key: z
      .string()
      .min(16)
      .max(1024)
      .openapi({ description: 'The existing key string, any format; only its SHA-256 is kept' }),
    ...keyOwnerFields,
  })
  .superRefine(oneExpiry)
  .superRefine(oneName)
  .openapi('ImportApiKey')

export const updateApiKeyBody = z
  .strictObject({
    name: keyName.nullable().optional(),
    description: keyDescription.nullable().optional(),
    metadata: jsonObject.optional(),
    scopes: scopes.optional(),
    rate_limit_override: rateLimitOverride.nullable().optional().openapi({ description: 'null: back to the configured budget' }),
    expires_at_seconds: expiresAtSeconds.optional(),
    expiration: expiration.optional(),
    expires_in_seconds: expiresInSeconds.optional(),
    set_to_never_expire: z.literal(true).optional(),
  })
  .superRefine(oneExpiry)
  .openapi('UpdateApiKey')

const MAX_GRACE_SECONDS = 30 * 86_400
export const rotateApiKeyBody = z
  .strictObject({
    grace_seconds: z
      .int()
      .min(0)
      .max(MAX_GRACE_SECONDS)
      .optional()
      .openapi({ description: 'How long the old secret keeps working; 0 or absent: it stops at once' }),
  })
  .openapi('RotateApiKey')
export const archiveApiKeyBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).openapi('ArchiveApiKey')
export const validateApiKeyBody = z
  .strictObject({ api_key_token: z.string().min(1).max(2048).openapi({ description: 'The secret, optionally after "Bearer "' }) })
  .openapi('ValidateApiKey')

export const apiKeyIdParam = z.object({ api_key_id: id })

export const listApiKeysQuery = z.object({
  ...paging,
  org_id: id.optional(),
  user_id: id.optional(),
  user_email: z
    .string()
    .min(1)
    .max(320)
    .optional()
    .openapi({ description: "The user's keys, by email; an unknown email gives an empty page" }),
  type: apiKeyTypeQuery.optional(),
  api_key_type: apiKeyTypeQuery.optional().openapi({ description: "PropelAuth's name for type; User, Org and Generic are its spellings" }),
  query: z.string().min(1).max(255).optional().openapi({ description: 'Partial, case-insensitive match on the name' }),
})

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine(
    (d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d),
    'not a calendar date',
  )
export const apiKeyUsageQuery = z.object({
  date: isoDate.openapi({ description: 'A UTC day, YYYY-MM-DD' }),
  api_key_id: id.optional(),
  user_id: id.optional(),
  org_id: id.optional(),
})
export const apiKeyUsageResponse = z.object({ count: z.int() }).openapi('ApiKeyUsage')

export const subjectUsageQuery = z
  .object({
    date: isoDate.openapi({ description: 'A UTC day, YYYY-MM-DD' }),
    user_id: id.optional().openapi({ description: 'Every forwarded request made as the user, with a token or a personal key' }),
    org_id: id
      .optional()
      .openapi({ description: 'Every forwarded request authorized against the org: org keys, and tokens or personal keys acting in it' }),
  })
  .superRefine((query, ctx) => {
    if ((query.user_id === undefined) === (query.org_id === undefined)) {
      ctx.addIssue({ code: 'custom', path: query.org_id === undefined ? [] : ['org_id'], message: 'send exactly one of user_id, org_id' })
    }
  })
export const subjectUsageResponse = z.object({ count: z.int() }).openapi('SubjectUsage')

export const apiKey = z
  .object({
    api_key_id: z.string(),
    type: apiKeyType,
    user_id: z.string().nullable(),
    org_id: z.string().nullable(),
    name: z.string().nullable(),
    description: z.string().nullable(),
    metadata: jsonObject,
    scopes: z.array(z.string()),
    rate_limit_override: z.int().nullable(),
    created_by: z.string().nullable(),
    created_at: unixSeconds,
    expires_at_seconds: unixSeconds.nullable().openapi({ description: 'null: never expires' }),
    last_used_at: unixSeconds.nullable(),
    archived_at: unixSeconds.nullable(),
    archive_reason: z.string().nullable(),
    protected: z.boolean(),
    revoke_on_creator_leave: z.boolean(),
    display: z.string().openapi({ description: 'The first characters of the secret, to tell keys apart' }),
    imported: z.boolean(),
  })
  .openapi('ApiKey')

export const apiKeyWithSecret = apiKey
  .extend({ api_key_token: z.string().openapi({ description: 'The secret: shown only here' }) })
  .openapi('ApiKeyWithSecret')
export const apiKeyImported = z.object({ api_key_id: z.string() }).openapi('ApiKeyImported')
export const apiKeysPage = z.object({ total_api_keys: z.int(), ...pageFields, api_keys: z.array(apiKey) }).openapi('ApiKeysPage')

export const apiKeyOrg = z
  .object({
    org_id: z.string(),
    org_name: z.string(),
    url_safe_org_name: z.string(),
    max_users: z.int().nullable(),
    is_saml_configured: z.boolean().openapi({ description: 'Always false' }),
    can_setup_saml: z.boolean(),
    metadata: jsonObject,
  })
  .openapi('ApiKeyOrg')

export const apiKeyValidation = z
  .object({
    api_key_id: z.string(),
    type: apiKeyType,
    metadata: jsonObject,
    scopes: z.array(z.string()),
    user: nullableRef(userMetadata).openapi({ description: "A personal key's owner, or the creating user of an org key" }),
    org: nullableRef(apiKeyOrg),
    user_in_org: nullableRef(orgMemberInfo).openapi({ description: 'When both user and org are set and the user is a member' }),
    user_id: z.string().nullable(),
    org_id: z.string().nullable(),
  })
  .openapi('ApiKeyValidation')

// ---- errors ----------------------------------------------------------------------------------

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    error_code: z.string().optional().openapi({ description: 'API-key validation: why the key was refused' }),
  })
  .openapi('Problem')

// ---- end users -------------------------------------------------------------------------------

export const createMagicLinkBody = z
  .strictObject({
    email,
    redirect_to_url: z
      .string()
      .max(2048)
      .optional()
      .openapi({ description: 'A path on the gateway, or a URL whose origin is end_users.public_url or in end_users.redirect_origins' }),
    expires_in_hours: z.int().min(1).max(720).default(24),
    create_new_user_if_one_doesnt_exist: z.boolean().default(true),
  })
  .openapi('CreateMagicLink')
export const magicLinkResponse = z.object({ url: z.string() }).openapi('MagicLink')

export const createInviteBody = z
  .strictObject({
    email,
    org_id: id,
    role,
    expires_in_hours: z
      .int()
      .min(1)
      .max(INVITE_HOURS.max)
      .default(INVITE_HOURS.default)
      .openapi({ description: 'How long the link works (default a week, at most 30 days)' }),
  })
  .openapi('CreateInvite')

export const pendingInvite = z
  .object({
    invitee_email: z.string(),
    org_id: z.string(),
    org_name: z.string(),
    role_in_org: z.string(),
    additional_roles_in_org: z.array(z.string()),
    created_at: unixSeconds,
    expires_at: unixSeconds,
    inviter_user_id: z.string().optional(),
    inviter_email: z.string().optional(),
  })
  .openapi('PendingInvite')

export const inviteCreated = pendingInvite
  .extend({
    url: z.string().openapi({ description: 'The one-time link (on end_users.public_url), to send yourself when mail is not configured' }),
    mailed: z.boolean().openapi({ description: 'Whether gatehouse mailed the link (mail is configured)' }),
  })
  .openapi('InviteCreated')

export const pendingInvitesQuery = z.object({
  ...paging,
  org_id: id.optional().openapi({ description: "Only this org's invites" }),
})

export const pendingInvitesPage = z
  .object({ total_invites: z.int(), ...pageFields, invites: z.array(pendingInvite) })
  .openapi('PendingInvitesPage')

export const inviteParam = z.object({ org_id: id, email })

/**
 * A named schema or null. `.nullable()` on a named schema renders as `allOf: [$ref, {type: [object, null]}]`
 * (which null can never satisfy, the $ref being an object) or drops the null; a union renders as
 * `anyOf: [$ref, {type: null}]`, which says what the API sends.
 */
function nullableRef<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.null()])
}
