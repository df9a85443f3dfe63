import { Migrator, sql } from 'kysely'
import type { Kysely, Migration, MigrationProvider } from 'kysely'
import type { ColumnTypes } from './schema.ts'

/**
 * Versioned migrations, in code so the build ships them without a folder to locate at runtime.
 * Kysely applies them in name order and records each in `kysely_migration`; a released migration
 * never changes, a schema change is a new one. Column kinds that differ by engine come from
 * `types`, so both engines run the same migrations.
 */
function migrations(types: ColumnTypes): Record<string, Migration> {
  return {
    '0001_directory': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('user_id', types.sortedText, (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('email_lower', types.sortedText, (c) => c.notNull().unique())
          .addColumn('email_confirmed', types.boolean, (c) => c.notNull())
          .addColumn('username', 'text')
          .addColumn('username_lower', types.sortedText, (c) => c.unique())
          .addColumn('first_name', 'text')
          .addColumn('last_name', 'text')
          .addColumn('picture_url', 'text')
          .addColumn('properties', types.json, (c) => c.notNull())
          .addColumn('metadata', types.json, (c) => c.notNull())
          .addColumn('enabled', types.boolean, (c) => c.notNull())
          .addColumn('can_create_orgs', types.boolean, (c) => c.notNull())
          .addColumn('legacy_user_id', 'text')
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addColumn('last_active_at', types.seconds, (c) => c.notNull())
          .addColumn('updated_at', types.seconds, (c) => c.notNull())
          .execute()
        // The paged orders read these with user_id as the tie-breaker.
        await db.schema.createIndex('users_created_at').on('users').columns(['created_at', 'user_id']).execute()
        await db.schema.createIndex('users_last_active_at').on('users').columns(['last_active_at', 'user_id']).execute()

        await db.schema
          .createTable('orgs')
          .addColumn('org_id', types.sortedText, (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('name_lower', types.sortedText, (c) => c.notNull())
          .addColumn('url_safe_org_name', 'text', (c) => c.notNull())
          .addColumn('domain', 'text')
          .addColumn('enable_auto_joining_by_domain', types.boolean, (c) => c.notNull())
          .addColumn('members_must_have_matching_domain', types.boolean, (c) => c.notNull())
          .addColumn('max_users', 'integer')
          .addColumn('metadata', types.json, (c) => c.notNull())
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addColumn('updated_at', types.seconds, (c) => c.notNull())
          .execute()
        await db.schema.createIndex('orgs_created_at').on('orgs').columns(['created_at', 'org_id']).execute()

        await db.schema
          .createTable('memberships')
          .addColumn('org_id', types.sortedText, (c) => c.notNull().references('orgs.org_id').onDelete('cascade'))
          .addColumn('user_id', types.sortedText, (c) => c.notNull().references('users.user_id').onDelete('cascade'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addPrimaryKeyConstraint('memberships_pkey', ['org_id', 'user_id'])
          .execute()
        // The primary key serves lookups by org; this one serves a user's orgs and the user cascade.
        await db.schema.createIndex('memberships_user_id').on('memberships').column('user_id').execute()

        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', types.sortedText, (c) => c.primaryKey())
          .addColumn('alg', 'text', (c) => c.notNull())
          .addColumn('private_jwk', types.json, (c) => c.notNull())
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .execute()
      },
    },
    '0002_api_keys': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('api_keys')
          .addColumn('api_key_id', types.sortedText, (c) => c.primaryKey())
          .addColumn('type', 'text', (c) => c.notNull())
          // Owners without foreign keys: validation stops the keys of a deleted owner by not finding it.
          .addColumn('user_id', 'text')
          .addColumn('org_id', 'text')
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('previous_secret_hash', 'text')
          .addColumn('previous_valid_until', types.seconds)
          .addColumn('name', 'text')
          .addColumn('name_lower', 'text')
          .addColumn('description', 'text')
          .addColumn('metadata', types.json, (c) => c.notNull())
          .addColumn('scopes', types.json, (c) => c.notNull())
          .addColumn('rate_limit_override', 'integer')
          .addColumn('created_by', 'text')
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addColumn('expires_at', types.seconds)
          .addColumn('last_used_at', types.seconds)
          .addColumn('archived_at', types.seconds)
          .addColumn('archive_reason', 'text')
          .addColumn('protected', types.boolean, (c) => c.notNull())
          .addColumn('display', 'text', (c) => c.notNull())
          .addColumn('imported', types.boolean, (c) => c.notNull())
          .addColumn('revoke_on_creator_leave', types.boolean, (c) => c.notNull())
          .addColumn('updated_at', types.seconds, (c) => c.notNull())
          .execute()
        await db.schema.createIndex('api_keys_previous_secret_hash').on('api_keys').column('previous_secret_hash').execute()
        await db.schema.createIndex('api_keys_user_id').on('api_keys').column('user_id').execute()
        await db.schema.createIndex('api_keys_org_id').on('api_keys').column('org_id').execute()
        // Lists read newest first with api_key_id as the tie-breaker.
        await db.schema.createIndex('api_keys_created_at').on('api_keys').columns(['created_at', 'api_key_id']).execute()

        await db.schema
          .createTable('api_key_usage')
          .addColumn('api_key_id', types.sortedText, (c) => c.notNull().references('api_keys.api_key_id').onDelete('cascade'))
          .addColumn('date', 'text', (c) => c.notNull())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('api_key_usage_pkey', ['api_key_id', 'date'])
          .execute()
        // Sums for one date over many keys (an owner's) start from the date.
        await db.schema.createIndex('api_key_usage_date').on('api_key_usage').column('date').execute()
      },
    },
    '0003_subject_usage': {
      async up(db: Kysely<unknown>) {
        // No foreign keys: a user's or org's history outlives neither a token nor a key, and
        // counts flushed after the subject was deleted are not worth a failed batch.
        await db.schema
          .createTable('subject_usage')
          .addColumn('subject_kind', 'text', (c) => c.notNull())
          .addColumn('subject_id', types.sortedText, (c) => c.notNull())
          .addColumn('date', 'text', (c) => c.notNull())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('subject_usage_pkey', ['subject_kind', 'subject_id', 'date'])
          .execute()
      },
    },
    '0004_org_can_setup_saml': {
      async up(db: Kysely<unknown>) {
        // Existing orgs keep what they had before the flag existed: no SAML setup.
        await db.schema
          .alterTable('orgs')
          .addColumn('can_setup_saml', types.boolean, (c) => c.notNull().defaultTo(sql`false`))
          .execute()
      },
    },
    '0005_user_passwords': {
      async up(db: Kysely<unknown>) {
        // A PHC string (argon2id, or an imported bcrypt hash until its first login); null: no password.
        await db.schema.alterTable('users').addColumn('password_hash', 'text').execute()
        await db.schema
          .alterTable('users')
          .addColumn('update_password_required', types.boolean, (c) => c.notNull().defaultTo(sql`false`))
          .execute()
      },
    },
    '0006_magic_links': {
      async up(db: Kysely<unknown>) {
        // Only the link secret's SHA-256 is kept; using a link is one conditional update, so it works once.
        await db.schema
          .createTable('magic_links')
          .addColumn('token_hash', types.sortedText, (c) => c.primaryKey())
          .addColumn('user_id', types.sortedText, (c) => c.notNull().references('users.user_id').onDelete('cascade'))
          .addColumn('redirect_to', 'text')
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addColumn('expires_at', types.seconds, (c) => c.notNull())
          .addColumn('used_at', types.seconds)
          .execute()
        await db.schema.createIndex('magic_links_user_id').on('magic_links').column('user_id').execute()
      },
    },
    '0007_invites': {
      async up(db: Kysely<unknown>) {
        // Only the link secret's SHA-256 is kept; accepting is one conditional update, so it works once.
        await db.schema
          .createTable('invites')
          .addColumn('invite_id', types.sortedText, (c) => c.primaryKey())
          .addColumn('org_id', types.sortedText, (c) => c.notNull().references('orgs.org_id').onDelete('cascade'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          // No foreign keys to users: an invite outlives neither its inviter's nor its acceptor's deletion in meaning.
          .addColumn('inviter_user_id', 'text')
          .addColumn('created_at', types.seconds, (c) => c.notNull())
          .addColumn('expires_at', types.seconds, (c) => c.notNull())
          .addColumn('accepted_at', types.seconds)
          .addColumn('accepted_user_id', 'text')
          .addColumn('revoked_at', types.seconds)
          .execute()
        // One pending invite per org and email, whichever writer races: a partial unique index.
        await db.schema
          .createIndex('invites_pending_org_email')
          .on('invites')
          .columns(['org_id', 'email'])
          .unique()
          .where(sql.ref('accepted_at'), 'is', null)
          .where(sql.ref('revoked_at'), 'is', null)
          .execute()
        // Pending lists read by org, oldest first.
        await db.schema.createIndex('invites_org_created_at').on('invites').columns(['org_id', 'created_at', 'invite_id']).execute()
      },
    },
    '0008_key_lookup_indexes': {
      async up(db: Kysely<unknown>) {
        // An uncached API key's lookup reads its owner's memberships oldest first and a rotated
        // key's previous secret newest grace first: in these orders, neither engine sorts. Each
        // replaced index is a prefix of its successor, which serves its lookups (the user cascade) too.
        await db.schema
          .createIndex('memberships_user_id_created_at')
          .on('memberships')
          .columns(['user_id', 'created_at', 'org_id'])
          .execute()
        await db.schema.dropIndex('memberships_user_id').execute()
        await db.schema
          .createIndex('api_keys_previous_secret_hash_valid_until')
          .on('api_keys')
          .columns(['previous_secret_hash', 'previous_valid_until'])
          .execute()
        await db.schema.dropIndex('api_keys_previous_secret_hash').execute()
      },
    },
  }
}

/**
 * Applies every pending migration; throws the first failure. `migrationTableSchema` names the
 * PostgreSQL schema of Kysely's bookkeeping tables: without it Kysely takes a `kysely_migration`
 * table in any other schema for its own and skips creating one.
 */
export async function migrateToLatest(db: Kysely<unknown>, types: ColumnTypes, migrationTableSchema?: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(types) }
  const { error, results } = await new Migrator({ db, provider, migrationTableSchema }).migrateToLatest()
  if (error === undefined) return
  const failed = results?.find((r) => r.status === 'Error')?.migrationName
  throw new Error(`store migration ${failed ?? '(setup)'} failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  })
}
