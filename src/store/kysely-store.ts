import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { Kysely, Selectable, SelectQueryBuilder, Transaction, Updateable } from 'kysely'
import type { EngineAdapter } from './engine.ts'
import {
  apiKeyPatchRow,
  newApiKeyRow,
  newOrgRow,
  newUserRow,
  orgPatchRow,
  signingKeyRow,
  toApiKey,
  toInvite,
  toMembership,
  toOrg,
  toSigningKey,
  toStoredApiKey,
  toUser,
  userPatchRow,
} from './rows.ts'
import type { Database, OrgsTable, UsersTable } from './schema.ts'
import { keyWithOwnerFromRows, keyWithOwnerQuery } from './key-with-owner.ts'
import { addSubjectCount, addUsageCount, apiKeyUsageWrites, moveLastUsed, subjectUsageWrites } from './usage-writes.ts'
import { containsIgnoringCase, countOf, nowSeconds, pageWindow } from './sql.ts'
import { StoreConflictError, StoreLimitError, StoreNotFoundError } from './types.ts'
import type { Membership, OrgOrderBy, Store, User, UserOrderBy } from './types.ts'

/** Keys per IN (…) list in batch lookups, far below SQLite's and PostgreSQL's parameter limits. */
const BATCH = 500

type UserSelect = SelectQueryBuilder<Database, 'users', Selectable<UsersTable>>
type OrgSelect = SelectQueryBuilder<Database, 'orgs', Selectable<OrgsTable>>

/** Every order ends on the primary key, so rows with equal sort values page in a stable order. */
function orderUsers(q: UserSelect, order: UserOrderBy): UserSelect {
  switch (order) {
    case 'CREATED_AT_ASC':
      return q.orderBy('created_at').orderBy('user_id')
    case 'CREATED_AT_DESC':
      return q.orderBy('created_at', 'desc').orderBy('user_id', 'desc')
    case 'LAST_ACTIVE_AT_ASC':
      return q.orderBy('last_active_at').orderBy('user_id')
    case 'LAST_ACTIVE_AT_DESC':
      return q.orderBy('last_active_at', 'desc').orderBy('user_id', 'desc')
    case 'EMAIL':
      return q.orderBy('email_lower').orderBy('user_id')
    case 'USERNAME':
      // Users without a username go last; spelled out because SQLite sorts NULL first and PostgreSQL last.
      return q
        .orderBy(sql`username_lower is null`)
        .orderBy('username_lower')
        .orderBy('user_id')
  }
}

function orderOrgs(q: OrgSelect, order: OrgOrderBy): OrgSelect {
  switch (order) {
    case 'CREATED_AT_ASC':
      return q.orderBy('created_at').orderBy('org_id')
    case 'CREATED_AT_DESC':
      return q.orderBy('created_at', 'desc').orderBy('org_id', 'desc')
    case 'LAST_ACTIVE_AT_ASC':
      return q.orderBy(orgLastActiveAt).orderBy('org_id')
    case 'LAST_ACTIVE_AT_DESC':
      return q.orderBy(orgLastActiveAt, 'desc').orderBy('org_id', 'desc')
    case 'NAME':
      return q.orderBy('name_lower').orderBy('org_id')
  }
}

/** An org is as recently active as its most recently active member; one without members, as of its creation. */
const orgLastActiveAt = sql`coalesce((select max(u.last_active_at) from memberships m join users u on u.user_id = m.user_id where m.org_id = orgs.org_id), orgs.created_at)`

/**
 * The store over any Kysely engine whose schema is migrated. Queries here are engine-neutral;
 * what differs (boolean binding, reading unique violations) comes from `engine`.
 */
export function createKyselyStore(db: Kysely<Database>, engine: EngineAdapter): Store {
  /** Uniqueness is left to the unique indexes, so two racing writers cannot both pass a check. */
  async function mapConflicts<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } catch (error) {
      const columns = engine.uniqueViolation(error)
      if (columns?.includes('email_lower')) throw new StoreConflictError('email', 'a user with this email exists')
      if (columns?.includes('username_lower')) throw new StoreConflictError('username', 'a user with this username exists')
      if (columns?.includes('secret_hash')) throw new StoreConflictError('api_key', 'an API key with this secret exists')
      if (columns?.includes('org_id') && columns.includes('email')) {
        throw new StoreConflictError('invite', 'another invite for this email was made at the same time')
      }
      if (columns?.includes('org_id') && columns.includes('user_id')) {
        throw new StoreConflictError('membership', 'the user is already a member of the org')
      }
      throw error
    }
  }

  /** Users whose `column` is one of `keys`, in the keys' first-seen order; unknown keys drop out. */
  async function usersByUniqueColumn(column: 'user_id' | 'email_lower' | 'username_lower', keys: readonly string[]): Promise<User[]> {
    const unique = [...new Set(keys)]
    const found = new Map<string, User>()
    for (let i = 0; i < unique.length; i += BATCH) {
      const rows = await db
        .selectFrom('users')
        .selectAll()
        .where(column, 'in', unique.slice(i, i + BATCH))
        .execute()
      for (const row of rows) {
        const key = row[column]
        if (key !== null) found.set(key, toUser(row))
      }
    }
    return unique.flatMap((key) => found.get(key) ?? [])
  }

  async function userBy(column: 'user_id' | 'email_lower' | 'username_lower', key: string): Promise<User | undefined> {
    const row = await db.selectFrom('users').selectAll().where(column, '=', key).executeTakeFirst()
    return row && toUser(row)
  }

  /**
   * Adds a member inside `trx` with the max_users check. A no-op write on the org row comes
   * first: in SQLite it takes the database's write lock, in PostgreSQL the row's lock, so a
   * concurrent add to the same org (from this process or another) waits here instead of
   * counting members that are about to change.
   */
  async function insertMember(trx: Transaction<Database>, orgId: string, userId: string, role: string): Promise<Membership> {
    const org = await trx
      .updateTable('orgs')
      .set((eb) => ({ max_users: eb.ref('max_users') }))
      .where('org_id', '=', orgId)
      .returning('max_users')
      .executeTakeFirst()
    if (org === undefined) throw new StoreNotFoundError('org', `no org ${orgId}`)
    const user = await trx.selectFrom('users').select('user_id').where('user_id', '=', userId).executeTakeFirst()
    if (user === undefined) throw new StoreNotFoundError('user', `no user ${userId}`)
    if (org.max_users !== null) {
      // Counting the others only: re-adding a member of a full org is the conflict the insert reports.
      const others = await trx
        .selectFrom('memberships')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('org_id', '=', orgId)
        .where('user_id', '!=', userId)
        .executeTakeFirstOrThrow()
      if (countOf(others) >= org.max_users) throw new StoreLimitError(`the org has reached its max_users (${org.max_users})`)
    }
    const row = await trx
      .insertInto('memberships')
      .values({ org_id: orgId, user_id: userId, role, created_at: nowSeconds() })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toMembership(row)
  }

  return {
    async createUser(input) {
      const row = newUserRow(randomUUID(), input, nowSeconds(), engine)
      return toUser(await mapConflicts(() => db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow()))
    },
    getUser: (userId) => userBy('user_id', userId),
    getUserByEmail: (email) => userBy('email_lower', email.toLowerCase()),
    getUserByUsername: (username) => userBy('username_lower', username.toLowerCase()),
    getUsersByIds: (userIds) => usersByUniqueColumn('user_id', userIds),
    getUsersByEmails: (emails) =>
      usersByUniqueColumn(
        'email_lower',
        emails.map((e) => e.toLowerCase()),
      ),
    getUsersByUsernames: (names) =>
      usersByUniqueColumn(
        'username_lower',
        names.map((n) => n.toLowerCase()),
      ),

    async queryUsers(query) {
      const { limit, offset } = pageWindow(query)
      const term = query.email_or_username
      const legacy = query.legacy_user_id
      let matching = db.selectFrom('users')
      if (term !== undefined) {
        matching = matching.where((eb) => eb.or([containsIgnoringCase('email_lower', term), containsIgnoringCase('username_lower', term)]))
      }
      // The id a user had in the system they were migrated from, matched exactly.
      if (legacy !== undefined) matching = matching.where('legacy_user_id', '=', legacy)
      const total = countOf(await matching.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow())
      const rows = await orderUsers(matching.selectAll(), query.order_by).limit(limit).offset(offset).execute()
      return { items: rows.map(toUser), total }
    },

    async updateUser(userId, patch) {
      const set = userPatchRow(patch, nowSeconds(), engine)
      const row = await mapConflicts(() => db.updateTable('users').set(set).where('user_id', '=', userId).returningAll().executeTakeFirst())
      return row && toUser(row)
    },

    async deleteUser(userId) {
      const result = await db.deleteFrom('users').where('user_id', '=', userId).executeTakeFirst()
      return result.numDeletedRows > 0n
    },

    async getPasswordHashByEmail(email) {
      const row = await db.selectFrom('users').selectAll().where('email_lower', '=', email.toLowerCase()).executeTakeFirst()
      return row && { user: toUser(row), password_hash: row.password_hash }
    },

    async setPasswordHash(userId, change) {
      const set: Updateable<UsersTable> = { password_hash: change.hash, updated_at: nowSeconds() }
      if (change.update_password_required !== undefined) set.update_password_required = engine.toBool(change.update_password_required)
      let update = db.updateTable('users').set(set).where('user_id', '=', userId)
      if (change.expected !== undefined) update = update.where('password_hash', '=', change.expected)
      const row = await update.returningAll().executeTakeFirst()
      return row && toUser(row)
    },

    async createOrg(input) {
      const row = newOrgRow(randomUUID(), input, nowSeconds(), engine)
      return toOrg(await db.insertInto('orgs').values(row).returningAll().executeTakeFirstOrThrow())
    },

    async getOrg(orgId) {
      const row = await db.selectFrom('orgs').selectAll().where('org_id', '=', orgId).executeTakeFirst()
      return row && toOrg(row)
    },

    async queryOrgs(query) {
      const { limit, offset } = pageWindow(query)
      const name = query.name
      const matching = name === undefined ? db.selectFrom('orgs') : db.selectFrom('orgs').where(containsIgnoringCase('name_lower', name))
      const total = countOf(await matching.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow())
      const rows = await orderOrgs(matching.selectAll(), query.order_by).limit(limit).offset(offset).execute()
      return { items: rows.map(toOrg), total }
    },

    async updateOrg(orgId, patch) {
      const set = orgPatchRow(patch, nowSeconds(), engine)
      const row = await db.updateTable('orgs').set(set).where('org_id', '=', orgId).returningAll().executeTakeFirst()
      return row && toOrg(row)
    },

    async deleteOrg(orgId) {
      const result = await db.deleteFrom('orgs').where('org_id', '=', orgId).executeTakeFirst()
      return result.numDeletedRows > 0n
    },

    addMember(orgId, userId, role) {
      return mapConflicts(() => db.transaction().execute((trx) => insertMember(trx, orgId, userId, role)))
    },

    async changeRole(orgId, userId, role) {
      const row = await db
        .updateTable('memberships')
        .set({ role })
        .where('org_id', '=', orgId)
        .where('user_id', '=', userId)
        .returningAll()
        .executeTakeFirst()
      return row && toMembership(row)
    },

    async removeMember(orgId, userId) {
      const result = await db.deleteFrom('memberships').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst()
      return result.numDeletedRows > 0n
    },

    async getMembership(orgId, userId) {
      const row = await db
        .selectFrom('memberships')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return row && toMembership(row)
    },

    async listOrgMembers(orgId, query) {
      const { limit, offset } = pageWindow(query)
      const inOrg = db.selectFrom('memberships').where('memberships.org_id', '=', orgId)
      const matching = query.role === undefined ? inOrg : inOrg.where('memberships.role', '=', query.role)
      const total = countOf(await matching.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow())
      const rows = await matching
        .innerJoin('users', 'users.user_id', 'memberships.user_id')
        .selectAll('users')
        .select(['memberships.role', 'memberships.created_at as joined_at'])
        .orderBy('memberships.created_at')
        .orderBy('memberships.user_id')
        .limit(limit)
        .offset(offset)
        .execute()
      const items = rows.map((row) => ({
        user: toUser(row),
        membership: toMembership({ org_id: orgId, user_id: row.user_id, role: row.role, created_at: row.joined_at }),
      }))
      return { items, total }
    },

    async listUserMemberships(userId) {
      const rows = await db
        .selectFrom('memberships')
        .innerJoin('orgs', 'orgs.org_id', 'memberships.org_id')
        .selectAll('orgs')
        .select(['memberships.role', 'memberships.created_at as joined_at'])
        .where('memberships.user_id', '=', userId)
        .orderBy('memberships.created_at')
        .orderBy('memberships.org_id')
        .execute()
      return rows.map((row) => ({
        org: toOrg(row),
        membership: toMembership({ org_id: row.org_id, user_id: userId, role: row.role, created_at: row.joined_at }),
      }))
    },

    async createApiKey(input) {
      const row = newApiKeyRow(randomBytes(16).toString('hex'), input, nowSeconds(), engine)
      return toApiKey(await mapConflicts(() => db.insertInto('api_keys').values(row).returningAll().executeTakeFirstOrThrow()))
    },

    async getApiKey(apiKeyId) {
      const row = await db.selectFrom('api_keys').selectAll().where('api_key_id', '=', apiKeyId).executeTakeFirst()
      return row && toStoredApiKey(row)
    },

    async findApiKeyBySecretHash(secretHash, now) {
      // Two lookups, each on its own index, rather than one OR that an engine may scan for.
      const current = await db.selectFrom('api_keys').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst()
      if (current !== undefined) return toStoredApiKey(current)
      const previous = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('previous_secret_hash', '=', secretHash)
        .where('previous_valid_until', '>', now)
        .orderBy('previous_valid_until', 'desc')
        .executeTakeFirst()
      return previous && toStoredApiKey(previous)
    },

    async findApiKeyWithOwner(secretHash, now) {
      const { rows } = await keyWithOwnerQuery(secretHash, now).execute(db)
      // A result object's keys are in select order (none of the aliases is an integer), so its values are the positional row.
      return keyWithOwnerFromRows(rows.map((row) => Object.values(row)))
    },

    async listApiKeys(query) {
      const { limit, offset } = pageWindow(query)
      let matching = db.selectFrom('api_keys').where('archived_at', query.archived ? 'is not' : 'is', null)
      if (query.org_id !== undefined) matching = matching.where('org_id', '=', query.org_id)
      if (query.user_id !== undefined) matching = matching.where('user_id', '=', query.user_id)
      if (query.type !== undefined) matching = matching.where('type', '=', query.type)
      if (query.query !== undefined) matching = matching.where(containsIgnoringCase('name_lower', query.query))
      const total = countOf(await matching.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow())
      const rows = await matching
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('api_key_id', 'desc')
        .limit(limit)
        .offset(offset)
        .execute()
      return { items: rows.map(toApiKey), total }
    },

    async updateApiKey(apiKeyId, patch) {
      const set = apiKeyPatchRow(patch, nowSeconds())
      const row = await db.updateTable('api_keys').set(set).where('api_key_id', '=', apiKeyId).returningAll().executeTakeFirst()
      return row && toApiKey(row)
    },

    async rotateApiKey(apiKeyId, secret, previousValidUntil) {
      const row = await mapConflicts(() =>
        db
          .updateTable('api_keys')
          .set((eb) => ({
            secret_hash: secret.secret_hash,
            display: secret.display,
            // The right-hand side reads the row as it was, so this is the secret being replaced.
            previous_secret_hash: previousValidUntil === null ? null : eb.ref('secret_hash'),
            previous_valid_until: previousValidUntil,
            updated_at: nowSeconds(),
          }))
          .where('api_key_id', '=', apiKeyId)
          .returningAll()
          .executeTakeFirst(),
      )
      return row && toApiKey(row)
    },

    async archiveApiKey(apiKeyId, reason) {
      const now = nowSeconds()
      // Only a current key changes: a second archive keeps the first time and reason.
      const row = await db
        .updateTable('api_keys')
        .set({ archived_at: now, archive_reason: reason, updated_at: now })
        .where('api_key_id', '=', apiKeyId)
        .where('archived_at', 'is', null)
        .returningAll()
        .executeTakeFirst()
      if (row !== undefined) return toApiKey(row)
      const existing = await db.selectFrom('api_keys').selectAll().where('api_key_id', '=', apiKeyId).executeTakeFirst()
      return existing && toApiKey(existing)
    },

    async deleteApiKey(apiKeyId) {
      return db.transaction().execute(async (trx) => {
        await trx.deleteFrom('api_key_usage').where('api_key_id', '=', apiKeyId).execute()
        const result = await trx.deleteFrom('api_keys').where('api_key_id', '=', apiKeyId).executeTakeFirst()
        return result.numDeletedRows > 0n
      })
    },

    async archiveKeysOfDepartedCreator(orgId, userId, reason) {
      const now = nowSeconds()
      const rows = await db
        .updateTable('api_keys')
        .set({ archived_at: now, archive_reason: reason, updated_at: now })
        .where('type', '=', 'org')
        .where('org_id', '=', orgId)
        .where('created_by', '=', userId)
        .where('revoke_on_creator_leave', '=', engine.toBool(true))
        .where('archived_at', 'is', null)
        .returning('api_key_id')
        .execute()
      return rows.map((r) => r.api_key_id).sort()
    },

    async recordApiKeyUsage(batch) {
      const { counts, lastUsed } = apiKeyUsageWrites(batch)
      if (counts.length === 0) return
      await db.transaction().execute(async (trx) => {
        for (const count of counts) await addUsageCount(trx, count).execute()
        for (const use of lastUsed) await moveLastUsed(trx, use).execute()
      })
    },

    async apiKeyUsage(query) {
      let matching = db
        .selectFrom('api_key_usage')
        .innerJoin('api_keys', 'api_keys.api_key_id', 'api_key_usage.api_key_id')
        .where('api_key_usage.date', '=', query.date)
      if (query.api_key_id !== undefined) matching = matching.where('api_key_usage.api_key_id', '=', query.api_key_id)
      if (query.user_id !== undefined) matching = matching.where('api_keys.user_id', '=', query.user_id)
      if (query.org_id !== undefined) matching = matching.where('api_keys.org_id', '=', query.org_id)
      const row = await matching.select((eb) => eb.fn.sum<number | string | null>('api_key_usage.count').as('n')).executeTakeFirstOrThrow()
      return Number(row.n ?? 0)
    },

    async recordSubjectUsage(batch) {
      const counts = subjectUsageWrites(batch)
      if (counts.length === 0) return
      await db.transaction().execute(async (trx) => {
        for (const count of counts) await addSubjectCount(trx, count).execute()
      })
    },

    async subjectUsage(query) {
      const row = await db
        .selectFrom('subject_usage')
        .select('count')
        .where('subject_kind', '=', query.kind)
        .where('subject_id', '=', query.id)
        .where('date', '=', query.date)
        .executeTakeFirst()
      return Number(row?.count ?? 0)
    },

    async createMagicLink(link) {
      await db
        .insertInto('magic_links')
        .values({ ...link, created_at: nowSeconds(), used_at: null })
        .execute()
    },

    async useMagicLink(tokenHash, now) {
      const row = await db
        .updateTable('magic_links')
        .set({ used_at: now })
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['user_id', 'redirect_to'])
        .executeTakeFirst()
      if (row !== undefined) return { used: row, found: true }
      const existing = await db.selectFrom('magic_links').select('token_hash').where('token_hash', '=', tokenHash).executeTakeFirst()
      return { found: existing !== undefined }
    },

    createInvite(input) {
      const now = nowSeconds()
      return mapConflicts(() =>
        db.transaction().execute(async (trx) => {
          // Inviting again replaces the pending invite: the old link stops, the new one starts afresh.
          await trx
            .updateTable('invites')
            .set({ revoked_at: now })
            .where('org_id', '=', input.org_id)
            .where('email', '=', input.email)
            .where('accepted_at', 'is', null)
            .where('revoked_at', 'is', null)
            .execute()
          const row = await trx
            .insertInto('invites')
            .values({
              ...input,
              invite_id: randomBytes(16).toString('hex'),
              created_at: now,
              accepted_at: null,
              accepted_user_id: null,
              revoked_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
          return toInvite(row)
        }),
      )
    },

    async getInviteBySecretHash(secretHash) {
      const row = await db.selectFrom('invites').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst()
      return row && toInvite(row)
    },

    async listPendingInvites(query) {
      const { limit, offset } = pageWindow(query)
      let matching = db
        .selectFrom('invites')
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', query.now)
      if (query.org_id !== undefined) matching = matching.where('org_id', '=', query.org_id)
      const total = countOf(await matching.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow())
      const rows = await matching.selectAll().orderBy('created_at').orderBy('invite_id').limit(limit).offset(offset).execute()
      return { items: rows.map(toInvite), total }
    },

    async revokeInvite(orgId, email, now) {
      const result = await db
        .updateTable('invites')
        .set({ revoked_at: now })
        .where('org_id', '=', orgId)
        .where('email', '=', email.toLowerCase())
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    acceptInvite(secretHash, now, acceptor) {
      // A new user's id is chosen first, so the one conditional update records who accepted.
      const userId = 'new_user' in acceptor ? randomUUID() : acceptor.user_id
      return mapConflicts(() =>
        db.transaction().execute(async (trx) => {
          const accepted = await trx
            .updateTable('invites')
            .set({ accepted_at: now, accepted_user_id: userId })
            .where('secret_hash', '=', secretHash)
            .where('accepted_at', 'is', null)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .returningAll()
            .executeTakeFirst()
          if (accepted === undefined) return undefined
          if ('new_user' in acceptor) {
            await trx
              .insertInto('users')
              .values(newUserRow(userId, acceptor.new_user, nowSeconds(), engine))
              .execute()
          }
          const membership = await insertMember(trx, accepted.org_id, userId, accepted.role)
          const user = await trx.selectFrom('users').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow()
          return { invite: toInvite(accepted), user: toUser(user), membership }
        }),
      )
    },

    async listSigningKeys() {
      const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute()
      return rows.map(toSigningKey)
    },

    async addSigningKey(key) {
      const result = await db
        .insertInto('signing_keys')
        .values(signingKeyRow(key))
        .onConflict((oc) => oc.column('kid').doNothing())
        .executeTakeFirst()
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n
    },

    close: () => db.destroy(),
  }
}
