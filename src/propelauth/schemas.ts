import { z } from 'zod'

/**
 * PropelAuth's request fields, as its SDKs send them. Bodies are strict: a field gatehouse does
 * not implement (a password, a legacy_org_id) is a 400 naming it, never silently dropped.
 */

const json = z.record(z.string(), z.unknown())
const id = z.string().min(1).max(255)
const email = z.email().max(320)
const username = z.string().min(1).max(255)
const personName = z.string().max(255)
const pictureUrl = z.url().max(2048)
const orgName = z.string().trim().min(1).max(255)
const role = z.string().min(1).max(255)
const domain = z.string().max(253).toLowerCase()
const unixSeconds = z.int().min(1).max(253_402_300_799)
const queryBoolean = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true')
const paging = {
  page_size: z.coerce.number().int().min(1).max(100).default(10),
  page_number: z.coerce.number().int().min(0).max(1_000_000).default(0),
}
/**
 * PropelAuth's flags about confirmation emails and domain restrictions at creation: gatehouse sends
 * no confirmation email and applies domain rules when a member is added, so they are accepted and
 * have nothing to act on. The admin API accepts them too.
 */
export const NO_EFFECT_FIELDS = ['send_email_to_confirm_email_address', 'ignore_domain_restrictions'] as const
const noEffect = Object.fromEntries(NO_EFFECT_FIELDS.map((f) => [f, z.boolean().optional()])) as Record<
  (typeof NO_EFFECT_FIELDS)[number],
  z.ZodOptional<z.ZodBoolean>
>
// Bounded here as the directory bounds it, so an oversized value is refused before any hashing.
const password = z.string().min(1).max(4096)
const passwordHash = z.string().min(1).max(1024)

export const includeOrgsQuery = z.strictObject({ include_orgs: queryBoolean })
export const byEmailQuery = z.strictObject({ email: z.string().min(1).max(320), include_orgs: queryBoolean })
export const byUsernameQuery = z.strictObject({ username, include_orgs: queryBoolean })
// Each batch body is one list, read as the values to look up.
export const batchBodies = {
  user_ids: z.strictObject({ user_ids: z.array(id).max(100) }).transform((b) => b.user_ids),
  emails: z.strictObject({ emails: z.array(z.string().min(1).max(320)).max(100) }).transform((b) => b.emails),
  usernames: z.strictObject({ usernames: z.array(username).max(100) }).transform((b) => b.usernames),
}
export const usersQuery = z.strictObject({
  ...paging,
  order_by: z
    .enum(['CREATED_AT_ASC', 'CREATED_AT_DESC', 'LAST_ACTIVE_AT_ASC', 'LAST_ACTIVE_AT_DESC', 'EMAIL', 'USERNAME'])
    .default('CREATED_AT_ASC'),
  email_or_username: z.string().min(1).max(320).optional(),
  legacy_user_id: z.string().min(1).max(255).optional(),
  include_orgs: queryBoolean,
})
export const usersInOrgQuery = z.strictObject({ ...paging, include_orgs: queryBoolean, role: role.optional() })

export const createUserBody = z.strictObject({
  email,
  email_confirmed: z.boolean().default(false),
  username: username.optional(),
  first_name: personName.optional(),
  last_name: personName.optional(),
  properties: json.optional(),
  password: password.optional(),
  ask_user_to_update_password_on_login: z.boolean().optional(),
  ...noEffect,
})

export const migrateUserBody = z.strictObject({
  email,
  email_confirmed: z.boolean().default(false),
  existing_user_id: id.optional(),
  enabled: z.boolean().default(true),
  first_name: personName.optional(),
  last_name: personName.optional(),
  username: username.optional(),
  picture_url: pictureUrl.optional(),
  properties: json.optional(),
  existing_password_hash: passwordHash.optional(),
  // PropelAuth's SDK sends askUserToUpdatePasswordOnLogin under this name here.
  update_password_required: z.boolean().optional(),
  ...noEffect,
})

export const magicLinkBody = z.strictObject({
  email,
  redirect_to_url: z.string().max(2048).optional(),
  expires_in_hours: z.int().min(1).max(720).optional(),
  create_new_user_if_one_doesnt_exist: z.boolean().optional(),
  // gatehouse's links always work once; asking for reusable ones is refused.
  expire_after_first_use: z.literal(true).optional(),
})

export const updatePasswordBody = z.strictObject({ password, ask_user_to_update_password_on_login: z.boolean().optional() })
export const migratePasswordBody = z.strictObject({ user_id: id, password_hash: passwordHash })

export const updateUserBody = z.strictObject({
  username: username.optional(),
  first_name: personName.optional(),
  last_name: personName.optional(),
  picture_url: pictureUrl.optional(),
  metadata: json.optional(),
  properties: json.optional(),
  update_password_required: z.boolean().optional(),
})

export const updateEmailBody = z.strictObject({ new_email: email, require_email_confirmation: z.boolean().default(false) })

export const createOrgBody = z.strictObject({
  name: orgName,
  domain: domain.optional(),
  enable_auto_joining_by_domain: z.boolean().default(false),
  members_must_have_matching_domain: z.boolean().default(false),
  max_users: z.int().min(1).optional(),
})

export const updateOrgBody = z.strictObject({
  name: orgName.optional(),
  can_setup_saml: z.boolean().optional(),
  metadata: json.optional(),
  max_users: z.int().min(1).optional(),
  autojoin_by_domain: z.boolean().optional(),
  restrict_to_domain: z.boolean().optional(),
  domain: domain.optional(),
})

export const orgQueryBody = z.strictObject({
  ...paging,
  order_by: z.enum(['CREATED_AT_ASC', 'CREATED_AT_DESC', 'LAST_ACTIVE_AT_ASC', 'LAST_ACTIVE_AT_DESC', 'NAME']).default('CREATED_AT_ASC'),
  name: z.string().min(1).max(255).optional(),
})

// Multi-role orgs are not implemented: additional_roles must be empty (the SDKs send [] by default).
const noAdditionalRoles = z.array(role).max(0, 'additional roles are not supported by gatehouse').default([])
export const memberBody = z.strictObject({ user_id: id, org_id: id, role, additional_roles: noAdditionalRoles })
export const removeMemberBody = z.strictObject({ user_id: id, org_id: id })

export const inviteByEmailBody = z.strictObject({ org_id: id, email, role, additional_roles: noAdditionalRoles })
export const inviteByUserIdBody = z.strictObject({ org_id: id, user_id: id, role, additional_roles: noAdditionalRoles })
export const pendingInvitesQuery = z.strictObject({ ...paging, org_id: id.optional() })
export const revokeInviteBody = z.strictObject({ org_id: id, invitee_email: z.string().min(1).max(320) })

export const accessTokenBody = z.strictObject({
  user_id: id,
  duration_in_minutes: z.int().min(1).max(525_600),
  active_org_id: id.optional(),
})

const keyOwner = {
  org_id: id.optional(),
  user_id: id.optional(),
  expires_at_seconds: unixSeconds.optional(),
  metadata: json.optional(),
  display_name: z.string().trim().min(1).max(255).optional(),
}
export const createApiKeyBody = z.strictObject(keyOwner)
export const importApiKeyBody = z.strictObject({ imported_api_key: z.string().min(16).max(1024), ...keyOwner })
export const updateApiKeyBody = z
  .strictObject({
    expires_at_seconds: unixSeconds.optional(),
    metadata: json.optional(),
    set_to_never_expire: z.boolean().optional(),
    display_name: z.string().trim().min(1).max(255).optional(),
  })
  .refine((b) => !(b.set_to_never_expire && b.expires_at_seconds !== undefined), {
    path: ['set_to_never_expire'],
    message: 'send expires_at_seconds or set_to_never_expire, not both',
  })
export const validateApiKeyBody = z.strictObject({ api_key_token: z.string().min(1).max(2048) })

/** PropelAuth's key types; gatehouse's own spellings are accepted too. */
export const API_KEY_TYPES = {
  User: 'personal',
  Org: 'org',
  Generic: 'generic',
  personal: 'personal',
  org: 'org',
  generic: 'generic',
} as const
export const apiKeysQuery = z.strictObject({
  ...paging,
  org_id: id.optional(),
  user_id: id.optional(),
  user_email: z.string().min(1).max(320).optional(),
  api_key_type: z
    .enum(Object.keys(API_KEY_TYPES) as [keyof typeof API_KEY_TYPES])
    .transform((t) => API_KEY_TYPES[t])
    .optional(),
})
export const usageQuery = z.strictObject({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD'),
  org_id: id.optional(),
  user_id: id.optional(),
  api_key_id: id.optional(),
})
