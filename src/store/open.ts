import { resolve } from 'node:path'
import { createSqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

/**
 * Opens the store a config's `store.url` names: `sqlite:PATH` with PATH relative to `baseDir`
 * (the config file's folder, so the data sits beside the config whatever the working directory),
 * or `sqlite::memory:` for a throwaway store.
 */
export async function openStore(url: string, baseDir: string): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new Error('store url sqlite: needs a path, e.g. sqlite:./data/gatehouse.db')
    if (path === ':memory:') return createSqliteStore(path)
    return createSqliteStore(resolve(baseDir, path))
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    throw new Error('the PostgreSQL store arrives in a later version')
  }
  throw new Error(`unsupported store url ${JSON.stringify(url)}: use sqlite:PATH or postgres://…`)
}
