import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Sqlite from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import type { EngineAdapter } from './engine.ts'
import { createKyselyStore } from './kysely-store.ts'
import { migrateToLatest } from './migrations.ts'
import type { Database } from './schema.ts'
import type { Store } from './types.ts'

/** SQLite's side of the engine contract: booleans as 0/1, JSON and times as text and integers. */
const sqliteAdapter: EngineAdapter = {
  types: { boolean: 'integer', json: 'text', seconds: 'integer', sortedText: 'text' },
  toBool: (value) => (value ? 1 : 0),
  uniqueViolation(error) {
    const code = (error as { code?: unknown } | null)?.code
    if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return undefined
    // "UNIQUE constraint failed: memberships.org_id, memberships.user_id"
    const list = (error as Error).message.split('constraint failed: ')[1] ?? ''
    return list.split(', ').map((qualified) => qualified.slice(qualified.indexOf('.') + 1))
  },
}

/**
 * Opens (creating if needed) the SQLite store at `path`, or a private in-memory one for
 * `:memory:`, and brings its schema up to date.
 */
export async function createSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const file = new Sqlite(path)
  try {
    // Wait for another process's write (the CLI next to a running server) instead of failing at once.
    file.pragma('busy_timeout = 5000')
    // WAL lets readers proceed during a write; FULL syncs the WAL on every commit, so a commit
    // that returned survives a power loss, not only a crash of the process.
    file.pragma('journal_mode = WAL')
    file.pragma('synchronous = FULL')
    // Off by default in SQLite; the membership cascades depend on it.
    file.pragma('foreign_keys = ON')
  } catch (error) {
    file.close()
    throw error
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: file }) })
  try {
    // Kysely runs SQLite migrations outside a transaction and without a lock. BEGIN IMMEDIATE
    // makes them atomic and makes a second process starting on the same file wait, then find
    // the schema already migrated.
    await sql`begin immediate`.execute(db)
    try {
      await migrateToLatest(db as Kysely<unknown>, sqliteAdapter.types)
      await sql`commit`.execute(db)
    } catch (error) {
      await sql`rollback`.execute(db)
      throw error
    }
  } catch (error) {
    await db.destroy()
    throw error
  }
  return createKyselyStore(db, sqliteAdapter)
}
