import { z } from '@hono/zod-openapi'

/**
 * The zod schemas of the management API. The same objects validate requests and generate
 * /openapi.json, so the document cannot drift from what the API accepts. Bodies are strict
 * objects: an unknown field (a typo, or a `password`) is a 400 naming it rather than silently
 * ignored; query strings ignore unknown parameters, as caches and proxies add their own.
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

export const createUserBody = z
  .strictObject({
    email,
    email_confirmed: z.boolean().default(false),
    username: username.optional(),
    first_name: personName.optional(),
    last_name: personName.optional(),
    picture_url: pictureUrl.optional(),
    properties: jsonObject.optional(),
    metadata: jsonObject.optional(),
  })
  .openapi('CreateUser')

export const migrateUserBody = z
  .strictObject({
    email,
    email_confirmed: z.boolean(),
    existing_user_id: id.optional().openapi({ description: 'Kept as legacy_user_id' }),
    enabled: z.boolean().default(true),
    username: username.optional(),
    first_name: personName.optional(),
    last_name: personName.optional(),
    picture_url: pictureUrl.optional(),
    properties: jsonObject.optional(),
    metadata: jsonObject.optional(),
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
  })
  .openapi('UpdateUser')

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
      ctx.addIssue({ code: 'custom', path: given[1] === undefined ? [] : [given[1]], message: 'send exactly one of user_ids, emails, usernames' })
    }
  })
  .openapi('BatchUsers')

const USER_ORDERS = ['CREATED_AT_ASC', 'CREATED_AT_DESC', 'LAST_ACTIVE_AT_ASC', 'LAST_ACTIVE_AT_DESC', 'EMAIL', 'USERNAME'] as const
export const queryUsersQuery = z.object({
  ...paging,
  order_by: z.enum(USER_ORDERS).default('CREATED_AT_ASC'),
  email_or_username: z.string().min(1).max(320).optional().openapi({ description: 'Partial match in the email or the username' }),
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
    has_password: z.boolean().openapi({ description: 'Always false: gatehouse stores no passwords' }),
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
  })
  .openapi('UpdateOrg')

const ORG_ORDERS = ['CREATED_AT_ASC', 'CREATED_AT_DESC', 'NAME'] as const
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

// ---- errors ----------------------------------------------------------------------------------

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem')
