import type pg from 'pg'
import { Kysely, PostgresDialect, sql } from 'kysely'
import type { DatabaseIntrospector, SchemaMetadata, TableMetadata } from 'kysely'
import type { EngineAdapter } from './engine.ts'
import { keyWithOwnerFromRows, keyWithOwnerQuery } from './key-with-owner.ts'
import { createKyselyStore } from './kysely-store.ts'
import { migrateToLatest } from './migrations.ts'
import { guardedPool, namedStatement } from './pg-pool.ts'
import type { Database } from './schema.ts'
import type { Store } from './types.ts'
import { apiKeyUsageWrites } from './usage-writes.ts'

export interface PostgresStoreOptions {
  /** Schema holding the tables, created if missing; the server's default (usually `public`) if unset. */
  schema?: string
  /** Most connections the pool opens (default 10). */
  poolSize?: number
  /**
   * How long one query may take, in milliseconds (default 5 000). Enforced on both sides: the
   * server's statement_timeout stops its work, and the client gives up on its own when the server
   * cannot be reached at all (a partition that answers nothing), which a server-side limit never sees.
   */
  queryTimeoutMillis?: number
  /** How long a query may wait for a pooled connection, opening one included (default 5 000 ms). */
  connectionTimeoutMillis?: number
  /** The sessions' application_name, as pg_stat_activity shows it (default `gatehouse`; the url's own wins). */
  applicationName?: string
}

/** A plain SQL identifier; anything else is refused rather than quoted, as it also goes into `-c search_path=`. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** Names of the constraints whose columns `detail` does not spell out, by constraint name. */
const CONSTRAINT_COLUMNS: Record<string, readonly string[]> = {
  memberships_pkey: ['org_id', 'user_id'],
  api_key_usage_pkey: ['api_key_id', 'date'],
  subject_usage_pkey: ['subject_kind', 'subject_id', 'date'],
  users_email_lower_key: ['email_lower'],
  users_username_lower_key: ['username_lower'],
  api_keys_secret_hash_key: ['secret_hash'],
}

/** PostgreSQL's side of the engine contract: native booleans, jsonb, bigint seconds, bytewise-sorted keys. */
export const postgresAdapter: EngineAdapter = {
  types: { boolean: 'boolean', json: 'jsonb', seconds: 'bigint', sortedText: sql`text collate "C"` },
  toBool: (value) => value,
  uniqueViolation(error) {
    const e = error as { code?: unknown; detail?: unknown; constraint?: unknown } | null
    if (e?.code !== '23505') return undefined
    // "Key (org_id, user_id)=(…) already exists."
    const detail = typeof e.detail === 'string' ? /^Key \((.+?)\)=/.exec(e.detail) : null
    if (detail?.[1] !== undefined) return detail[1].split(',').map((c) => c.trim().replace(/^"|"$/g, ''))
    const constraint = typeof e.constraint === 'string' ? e.constraint : ''
    return CONSTRAINT_COLUMNS[constraint] ?? []
  },
}

/**
 * Opens the PostgreSQL store at `url` (a libpq-style `postgres://` URL) over a connection pool and
 * brings its schema up to date. Kysely's Migrator holds a transaction-scoped advisory lock while
 * it migrates, so replicas starting together migrate once and the others wait, then find nothing
 * to do.
 */
export async function createPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const { schema } = options
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(schema)}: use letters, digits and _`)
  }
  const connection = {
    connectionString: url,
    application_name: options.applicationName ?? 'gatehouse',
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    // Notices a dead peer on an idle connection sooner than the OS default of hours.
    keepAlive: true,
    // Every connection of the pool resolves unqualified names in the store's schema.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  }
  // Loaded by the one store that uses it: a gateway on SQLite never compiles pg's modules.
  const { default: driver } = await import('pg')
  // Migrating runs on a connection of its own without the query timeout: a replica waiting on
  // another's migration lock, or a migration over a large table, may rightly take longer.
  const migrator = new Kysely<Database>({
    dialect: new StoreSchemaDialect({ pool: guardedPool(quietPool(driver, { ...connection, max: 1 })) }),
  })
  try {
    await migrate(migrator, schema)
  } finally {
    await migrator.destroy()
  }
  const queryTimeout = options.queryTimeoutMillis ?? 5_000
  const pool = quietPool(driver, {
    ...connection,
    max: options.poolSize ?? 10,
    query_timeout: queryTimeout,
    statement_timeout: queryTimeout,
  })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardedPool(pool) }) })
  // The uncached API key's lookup: the SQL is the Kysely store's, compiled once and prepared per connection.
  const keyWithOwner = namedStatement(pool, 'gatehouse_key_with_owner', keyWithOwnerQuery('', 0).compile(db).sql)
  const addUsage = namedStatement(pool, 'gatehouse_api_key_usage', API_KEY_USAGE)
  return {
    ...createKyselyStore(db, postgresAdapter),
    findApiKeyWithOwner: async (secretHash, now) => keyWithOwnerFromRows(await keyWithOwner([secretHash, secretHash, now])),
    async recordApiKeyUsage(batch) {
      const { counts, lastUsed } = apiKeyUsageWrites(batch)
      if (counts.length === 0) return
      await addUsage([
        counts.map((c) => c.api_key_id),
        counts.map((c) => c.date),
        counts.map((c) => c.count),
        lastUsed.map((u) => u.api_key_id),
        lastUsed.map((u) => u.last_used_at),
      ])
    },
  }
}

/**
 * A usage flush's chunk as one statement, so one round trip: Kysely's path sent two statements
 * per key inside a transaction (a flush of 2,000 keys, some 4,000 round trips, each built and
 * compiled anew), which cost an uncached-key workload a fifth of its CPU. It writes what
 * `addUsageCount` and `moveLastUsed` write: counts only for keys that still exist, added to the
 * day's; last_used_at moved forward, never back. A statement is atomic, as their transaction was.
 * Its rows are written and locked in key order whatever plan PostgreSQL picks (the insert's ORDER
 * BY, `locked`'s ordered FOR NO KEY UPDATE), as apiKeyUsageWrites orders them, so that replicas
 * flushing overlapping keys queue instead of deadlocking.
 */
const API_KEY_USAGE = `with counted as (
    insert into api_key_usage (api_key_id, date, count)
    select k.api_key_id, u.date, u.count
    from unnest($1::text[], $2::text[], $3::bigint[]) as u(api_key_id, date, count)
    join api_keys k on k.api_key_id = u.api_key_id collate "C"
    order by k.api_key_id collate "C", u.date collate "C"
    on conflict (api_key_id, date) do update set count = api_key_usage.count + excluded.count
  ),
  locked as (
    select k.api_key_id from api_keys k
    where k.api_key_id collate "C" = any($4::text[])
    order by k.api_key_id collate "C"
    for no key update
  )
  update api_keys k set last_used_at = u.last_used_at
  from unnest($4::text[], $5::bigint[]) as u(api_key_id, last_used_at), locked l
  where k.api_key_id = u.api_key_id collate "C" and l.api_key_id = k.api_key_id
    and (k.last_used_at is null or k.last_used_at < u.last_used_at)`

/**
 * The migrator's dialect, whose introspection sees the store's own schema only. Kysely's Migrator
 * asks which tables exist, and PostgresIntrospector answers by reading every schema's columns
 * through name-based functions (`has_schema_privilege(nspname, …)`): a schema another session
 * drops during that scan fails it with `schema "…" does not exist` (seen with two processes
 * opening and dropping schemas on one server), which would stop a replica from starting.
 */
class StoreSchemaDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    const getSchemas = async (): Promise<SchemaMetadata[]> => {
      const rows = await sql<SchemaMetadata>`select nspname as name from pg_catalog.pg_namespace where nspname = current_schema()`.execute(
        db,
      )
      return rows.rows
    }
    const getTables = async (): Promise<TableMetadata[]> => {
      const rows = await sql<{ name: string; schema: string; kind: string }>`
        select c.relname as name, n.nspname as schema, c.relkind as kind
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v')`.execute(db)
      return rows.rows.map((r) => ({ name: r.name, schema: r.schema, isView: r.kind === 'v', columns: [] }))
    }
    return { getSchemas, getTables, getMetadata: async () => ({ tables: await getTables() }) }
  }
}

function quietPool(driver: typeof pg, config: pg.PoolConfig): pg.Pool {
  const pool = new driver.Pool(config)
  // An idle connection the server drops must not crash the process; the next query reports it.
  pool.on('error', () => {})
  return pool
}

/** Creates the schema if it is missing and brings its tables up to date. */
async function migrate(db: Kysely<Database>, schema: string | undefined): Promise<void> {
  if (schema !== undefined) {
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db)
    } catch (error) {
      // Two openers racing on a new schema: IF NOT EXISTS can still fail on the catalog's unique index.
      const code = (error as { code?: unknown }).code
      if (code !== '23505' && code !== '42P06') throw error
    }
  }
  const current = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)
  const migrationSchema = current.rows[0]?.schema
  if (migrationSchema === null || migrationSchema === undefined) {
    throw new Error('PostgreSQL has no current schema: set search_path or pass a schema')
  }
  await migrateToLatest(db as Kysely<unknown>, postgresAdapter.types, migrationSchema)
}
