import { sql } from 'kysely'
import type { RawBuilder } from 'kysely'
import { toMembership, toOrg, toStoredApiKey, toUser } from './rows.ts'
import type { MembershipRow, OrgRow, StoredApiKeyRow, UserRow } from './rows.ts'
import type { ApiKeyWithOwner } from './types.ts'

/**
 * The one query of an uncached API key: the key by its current (or, within its grace period, its
 * previous) secret hash, with its owner joined in. Its result rows are positional arrays, so each
 * engine can run it the cheapest way it has (SQLite: one raw prepared statement) and share the decoding.
 */

/** The columns the records are built from, in result order; the lowercased copies kept for search are left out. */
const KEY_COLUMNS = Object.keys({
  api_key_id: true,
  type: true,
  user_id: true,
  org_id: true,
  secret_hash: true,
  previous_secret_hash: true,
  previous_valid_until: true,
  name: true,
  description: true,
  metadata: true,
  scopes: true,
  rate_limit_override: true,
  created_by: true,
  created_at: true,
  expires_at: true,
  last_used_at: true,
  archived_at: true,
  archive_reason: true,
  protected: true,
  display: true,
  imported: true,
  revoke_on_creator_leave: true,
  updated_at: true,
} satisfies Record<keyof StoredApiKeyRow, true>)
const USER_COLUMNS = Object.keys({
  user_id: true,
  email: true,
  email_confirmed: true,
  username: true,
  first_name: true,
  last_name: true,
  picture_url: true,
  properties: true,
  metadata: true,
  enabled: true,
  can_create_orgs: true,
  legacy_user_id: true,
  password_hash: true,
  update_password_required: true,
  created_at: true,
  last_active_at: true,
  updated_at: true,
} satisfies Record<keyof UserRow, true>)
const ORG_COLUMNS = Object.keys({
  org_id: true,
  name: true,
  url_safe_org_name: true,
  domain: true,
  enable_auto_joining_by_domain: true,
  members_must_have_matching_domain: true,
  max_users: true,
  metadata: true,
  can_setup_saml: true,
  created_at: true,
  updated_at: true,
} satisfies Record<keyof OrgRow, true>)
const MEMBERSHIP_COLUMNS = Object.keys({ org_id: true, user_id: true, role: true, created_at: true } satisfies Record<
  keyof MembershipRow,
  true
>)

/** A table of the join as the query names it, and where its columns start in a result row. */
type Joined = { alias: string; columns: readonly string[]; offset: number }

function layout(tables: readonly (readonly [alias: string, columns: readonly string[]])[]): Joined[] {
  let offset = 0
  return tables.map(([alias, columns]) => {
    const table = { alias, columns, offset }
    offset += columns.length
    return table
  })
}

const [KEY, OWNER, OWNER_MEMBERSHIP, OWNER_ORG, KEY_ORG, CREATOR_MEMBERSHIP] = layout([
  ['k', KEY_COLUMNS],
  ['u', USER_COLUMNS],
  ['m', MEMBERSHIP_COLUMNS],
  ['mo', ORG_COLUMNS],
  ['ko', ORG_COLUMNS],
  ['cm', MEMBERSHIP_COLUMNS],
]) as [Joined, Joined, Joined, Joined, Joined, Joined]

// Aliased, because PostgreSQL returns objects by column name and the joined tables share names.
const SELECTED = sql.raw(
  [KEY, OWNER, OWNER_MEMBERSHIP, OWNER_ORG, KEY_ORG, CREATOR_MEMBERSHIP]
    .flatMap(({ alias, columns }) => columns.map((column) => `${alias}.${column} as ${alias}_${column}`))
    .join(', '),
)

/** The lookup with its parameters, in the order `?` placeholders take them: the hash twice, then `now`. */
export function keyWithOwnerQuery(secretHash: string, now: number): RawBuilder<Record<string, unknown>> {
  return sql<Record<string, unknown>>`select ${SELECTED}
    from api_keys k
    left join users u on k.type = 'personal' and u.user_id = k.user_id
    left join memberships m on m.user_id = u.user_id
    left join orgs mo on mo.org_id = m.org_id
    left join orgs ko on k.type = 'org' and ko.org_id = k.org_id
    left join memberships cm on cm.org_id = ko.org_id and cm.user_id = coalesce(k.created_by, k.user_id)
    where k.api_key_id = coalesce(
      (select c.api_key_id from api_keys c where c.secret_hash = ${secretHash}),
      (select p.api_key_id from api_keys p where p.previous_secret_hash = ${secretHash} and p.previous_valid_until > ${now}
        order by p.previous_valid_until desc limit 1))
    order by m.created_at, m.org_id`
}

const ROW = Symbol('row')

/**
 * A reader of one joined table's columns in a positional result row, by name, as the row
 * decoders take them: a class per table whose getters read the row in place (keyed by a symbol,
 * which no column name can shadow). Copying every column into an object built key by key first
 * cost four times what decoding costs now.
 */
function columnsOf<T>({ columns, offset }: Joined): (row: readonly unknown[]) => T {
  class Columns {
    readonly [ROW]: readonly unknown[]
    constructor(row: readonly unknown[]) {
      this[ROW] = row
    }
  }
  columns.forEach((column, i) =>
    Object.defineProperty(Columns.prototype, column, {
      get(this: Columns) {
        return this[ROW][offset + i]
      },
    }),
  )
  return (row) => new Columns(row) as T
}

const keyOf = columnsOf<StoredApiKeyRow>(KEY)
const ownerOf = columnsOf<UserRow>(OWNER)
const ownerMembershipOf = columnsOf<MembershipRow>(OWNER_MEMBERSHIP)
const ownerOrgOf = columnsOf<OrgRow>(OWNER_ORG)
const keyOrgOf = columnsOf<OrgRow>(KEY_ORG)
const creatorMembershipOf = columnsOf<MembershipRow>(CREATOR_MEMBERSHIP)

/** The key and its owner out of the lookup's rows (one per owner membership), undefined when no key matched. */
export function keyWithOwnerFromRows(rows: readonly (readonly unknown[])[]): ApiKeyWithOwner | undefined {
  const [first] = rows
  if (first === undefined) return undefined
  const found: ApiKeyWithOwner = { key: toStoredApiKey(keyOf(first)) }
  if (first[OWNER.offset] !== null) {
    const memberships = rows
      .filter((row) => row[OWNER_MEMBERSHIP.offset] !== null)
      .map((row) => ({
        org: toOrg(ownerOrgOf(row)),
        membership: toMembership(ownerMembershipOf(row)),
      }))
    found.owner = { user: toUser(ownerOf(first)), memberships }
  }
  if (first[KEY_ORG.offset] !== null) {
    const creatorMembership = first[CREATOR_MEMBERSHIP.offset] === null ? undefined : toMembership(creatorMembershipOf(first))
    found.org = { org: toOrg(keyOrgOf(first)), creatorMembership }
  }
  return found
}
