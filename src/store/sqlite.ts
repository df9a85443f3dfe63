import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Sqlite from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import type { Compilable, SqliteDatabase, SqliteStatement } from 'kysely'
import type { EngineAdapter } from './engine.ts'
import { keyWithOwnerFromRows, keyWithOwnerQuery } from './key-with-owner.ts'
import { createKyselyStore } from './kysely-store.ts'
import { migrateToLatest } from './migrations.ts'
import type { Database } from './schema.ts'
import type { Store, SubjectUsage } from './types.ts'
import { addSubjectCount, addUsageCount, apiKeyUsageWrites, moveLastUsed, subjectUsageWrites } from './usage-writes.ts'
import type { ApiKeyUsageWrites } from './usage-writes.ts'
import { asStoreError } from './unavailable.ts'

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

export type SqliteStoreOptions = {
  /** Told when an existing database file was readable by others and has been made owner-only. */
  warn?: (message: string) => void
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY (default 5 000 ms). */
  busyTimeoutMs?: number
}

/**
 * Opens (creating if needed) the SQLite store at `path`, or a private in-memory one for
 * `:memory:`, and brings its schema up to date.
 */
export async function createSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<Store> {
  if (path !== ':memory:') makeOwnerOnly(path, options.warn ?? (() => {}))
  const file = new Sqlite(path)
  try {
    // Wait for another process's write (the CLI next to a running server) instead of failing at once.
    file.pragma(`busy_timeout = ${Math.round(options.busyTimeoutMs ?? 5_000)}`)
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reportingUnavailable(file) }) })
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
  const store = createKyselyStore(db, sqliteAdapter)
  return {
    ...store,
    findApiKeyWithOwner: keyWithOwnerStatement(file, db, store.findApiKeyWithOwner),
    recordApiKeyUsage: apiKeyUsageTransaction(file, db, store.recordApiKeyUsage),
    recordSubjectUsage: subjectUsageTransaction(file, db, store.recordSubjectUsage),
  }
}

/**
 * A usage flush as one synchronous better-sqlite3 transaction of raw prepared statements. Through
 * Kysely each of its statements was built and compiled anew, per key or user, and its transaction
 * held the one connection across every await, so key lookups queued behind it; this one ends before
 * any other work runs. The statements are the Kysely store's, compiled once.
 */
function usageTransaction<Batch, Writes>(
  file: Sqlite.Database,
  throughKysely: (batch: Batch) => Promise<void>,
  merge: (batch: Batch) => Writes | undefined,
  write: (writes: Writes) => void,
): (batch: Batch) => Promise<void> {
  const transaction = file.transaction(write)
  return async (batch) => {
    // A transaction cannot start inside another: wait for Kysely's, as its own path does.
    if (file.inTransaction) return throughKysely(batch)
    const writes = merge(batch)
    if (writes === undefined) return
    try {
      transaction(writes)
    } catch (error) {
      throw asStoreError(error)
    }
  }
}

function apiKeyUsageTransaction(
  file: Sqlite.Database,
  db: Kysely<Database>,
  throughKysely: Store['recordApiKeyUsage'],
): Store['recordApiKeyUsage'] {
  const addCount = rawStatement(file, (row) => addUsageCount(db, row), { api_key_id: '\u0000api_key_id', date: '\u0000date', count: -1 })
  const moveUse = rawStatement(file, (row) => moveLastUsed(db, row), { api_key_id: '\u0000api_key_id', last_used_at: -1 })
  return usageTransaction(
    file,
    throughKysely,
    (batch: Parameters<Store['recordApiKeyUsage']>[0]) => {
      const writes = apiKeyUsageWrites(batch)
      return writes.counts.length === 0 ? undefined : writes
    },
    ({ counts, lastUsed }: ApiKeyUsageWrites) => {
      for (const count of counts) addCount(count)
      for (const use of lastUsed) moveUse(use)
    },
  )
}

/** Per-user and per-org counts: on a cold-token load nearly every request is a user of its own, so one upsert each. */
function subjectUsageTransaction(
  file: Sqlite.Database,
  db: Kysely<Database>,
  throughKysely: Store['recordSubjectUsage'],
): Store['recordSubjectUsage'] {
  const addCount = rawStatement(file, (row: SubjectUsage) => addSubjectCount(db, row), {
    // A marker that only tells the parameter's position, never a kind written.
    kind: '\u0000kind' as SubjectUsage['kind'],
    id: '\u0000id',
    date: '\u0000date',
    count: -1,
  })
  return usageTransaction(
    file,
    throughKysely,
    (batch: readonly SubjectUsage[]) => {
      const counts = subjectUsageWrites(batch)
      return counts.length === 0 ? undefined : counts
    },
    (counts: SubjectUsage[]) => {
      for (const count of counts) addCount(count)
    },
  )
}

/**
 * A Kysely query prepared once as a raw statement. It is compiled with a distinct placeholder
 * value per field of `sample`, which tells in what order the statement takes each row's fields.
 */
function rawStatement<Row extends Record<string, string | number>>(
  file: Sqlite.Database,
  query: (row: Row) => Compilable,
  sample: Row,
): (row: Row) => void {
  const compiled = query(sample).compile()
  const fields = compiled.parameters.map((value) => {
    const field = Object.keys(sample).find((name) => sample[name] === value)
    if (field === undefined) throw new Error(`a parameter of ${compiled.sql} is none of the row's fields`)
    return field
  })
  const statement = file.prepare(compiled.sql)
  return (row) => {
    statement.run(fields.map((field) => row[field]))
  }
}

/**
 * The uncached API key's lookup as one raw prepared statement: the proxy runs it on every cache
 * miss, and Kysely's execution around it and better-sqlite3's building an object per joined row
 * cost more than SQLite's own work. The SQL is the Kysely store's, compiled once.
 */
function keyWithOwnerStatement(
  file: Sqlite.Database,
  db: Kysely<Database>,
  throughKysely: Store['findApiKeyWithOwner'],
): Store['findApiKeyWithOwner'] {
  const statement = file.prepare<unknown[], unknown[]>(keyWithOwnerQuery('', 0).compile(db).sql).raw(true)
  return async (secretHash, now) => {
    // The one connection is inside a Kysely transaction, between two of its statements: read past
    // it and the lookup would see writes that may yet roll back. Kysely's own path waits for it.
    if (file.inTransaction) return throughKysely(secretHash, now)
    try {
      return keyWithOwnerFromRows(statement.all(secretHash, secretHash, now))
    } catch (error) {
      throw asStoreError(error)
    }
  }
}

/**
 * Prepared statements kept per SQL text. Kysely prepares every query it runs, and preparing cost
 * more than running the lookup itself (a third of an uncached API key's CPU); the proxy's few
 * queries come back with other parameters only. Bounded, because queries with IN lists differ in text.
 */
const PREPARED_STATEMENTS = 256

/**
 * The database as Kysely drives it: statements prepared once per SQL text, and a lock held past
 * busy_timeout (SQLITE_BUSY) leaving as StoreUnavailableError.
 */
function reportingUnavailable(file: Sqlite.Database): SqliteDatabase {
  const reported = <T>(run: () => T): T => {
    try {
      return run()
    } catch (error) {
      throw asStoreError(error)
    }
  }
  const prepared = new Map<string, Sqlite.Statement>()
  const prepareOnce = (text: string): Sqlite.Statement => {
    let statement = prepared.get(text)
    if (statement === undefined) {
      statement = reported(() => file.prepare(text))
      if (prepared.size >= PREPARED_STATEMENTS) prepared.delete(prepared.keys().next().value!)
      prepared.set(text, statement)
    }
    return statement
  }
  return {
    close: () => file.close(),
    prepare(text): SqliteStatement {
      // A statement still iterating (a streamed query) is busy: such a query gets one of its own.
      const cached = prepareOnce(text)
      const statement = cached.busy ? reported(() => file.prepare(text)) : cached
      return {
        reader: statement.reader,
        all: (parameters) => reported(() => statement.all(parameters)),
        run: (parameters) => reported(() => statement.run(parameters)),
        iterate: (parameters) => reported(() => statement.iterate(parameters)),
      }
    },
  }
}

const OWNER_ONLY = 0o600

/**
 * The store holds the access-token signing key, so its files are the owner's alone: a folder
 * gatehouse creates is 0700 and the database is created 0600 before SQLite opens it (SQLite gives
 * the -wal and -shm files it creates the database file's mode). Files that already exist with
 * looser modes are tightened, with a warning, rather than refused: an upgrade from a version
 * that created them 0644 keeps starting. One that cannot be tightened (another owner) is refused.
 */
function makeOwnerOnly(path: string, warn: (message: string) => void): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  closeSync(openSync(path, 'a', OWNER_ONLY))
  for (const file of [path, `${path}-wal`, `${path}-shm`]) tighten(file, warn)
}

function tighten(file: string, warn: (message: string) => void): void {
  let mode: number
  try {
    mode = statSync(file).mode & 0o777
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  if ((mode & 0o077) === 0) return
  const was = `0${mode.toString(8)}`
  try {
    chmodSync(file, OWNER_ONLY)
  } catch (error) {
    throw new Error(`${file} holds the token signing key but is mode ${was} and cannot be made 0600: ${(error as Error).message}`, {
      cause: error,
    })
  }
  warn(`${file} was mode ${was} (readable beyond its owner); it holds the token signing key, so it is now 0600`)
}
