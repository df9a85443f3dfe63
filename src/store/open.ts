import { resolve } from 'node:path'
import { createPostgresStore } from './postgres.ts'
import { createSqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

export type OpenStoreOptions = {
  /** Told when an existing SQLite file was readable by others and has been made owner-only. */
  warn?: (message: string) => void
  /** How long one query may take: PostgreSQL's query timeout, SQLite's wait for another writer's lock. */
  queryTimeoutMs?: number
  /** PostgreSQL: how long a query may wait for a pooled connection, connecting included. */
  connectTimeoutMs?: number
  /** PostgreSQL: the most connections the pool opens. */
  poolSize?: number
}

/**
 * Opens the store a config's `store.url` names: `sqlite:PATH` with PATH relative to `baseDir`
 * (the config file's folder, so the data sits beside the config whatever the working directory),
 * or `sqlite::memory:` for a throwaway store; or `postgres://…` / `postgresql://…` for PostgreSQL,
 * where an optional `?schema=NAME` puts the tables in that schema (created if missing) instead of
 * the server's default. The other query parameters go to the driver as usual (e.g. `sslmode`).
 */
export async function openStore(url: string, baseDir: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { warn, queryTimeoutMs, connectTimeoutMs, poolSize } = options
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new Error('store url sqlite: needs a path, e.g. sqlite:./data/gatehouse.db')
    if (path === ':memory:') return createSqliteStore(path, { busyTimeoutMs: queryTimeoutMs })
    return createSqliteStore(resolve(baseDir, path), { warn, busyTimeoutMs: queryTimeoutMs })
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { url: connectionUrl, schema } = splitSchemaParameter(url)
    return createPostgresStore(connectionUrl, {
      schema,
      poolSize,
      queryTimeoutMillis: queryTimeoutMs,
      connectionTimeoutMillis: connectTimeoutMs,
    })
  }
  throw new Error(`unsupported store url ${JSON.stringify(url)}: use sqlite:PATH or postgres://…`)
}

/** Takes gatehouse's own `schema` parameter out of a PostgreSQL URL; the driver does not know it. */
export function splitSchemaParameter(url: string): { url: string; schema?: string } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error('invalid PostgreSQL store url')
  }
  const schema = parsed.searchParams.get('schema')
  if (schema === null) return { url }
  if (schema === '') throw new Error('store url: schema= needs a name')
  parsed.searchParams.delete('schema')
  return { url: parsed.toString(), schema }
}
