import { sql } from 'kysely'
import type { Expression, SqlBool } from 'kysely'
import type { Paging } from './types.ts'

/** Query fragments written once for every engine. */

/** Whole seconds, the unit of every stored time. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/**
 * Case-insensitive "contains" on an already lowercased column. The term's own `%`, `_` and `\`
 * are escaped so a search for "a_b" matches only that text; ESCAPE is spelled out because
 * SQLite has no default escape character.
 */
export function containsIgnoringCase(column: string, term: string): Expression<SqlBool> {
  const pattern = `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  return sql<SqlBool>`${sql.ref(column)} like ${pattern} escape '\\'`
}

/** LIMIT and OFFSET of a page; the store refuses nonsense rather than let SQLite read LIMIT -1 as "all". */
export function pageWindow(paging: Paging): { limit: number; offset: number } {
  const { page_size: size, page_number: number } = paging
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(number) || number < 0) {
    throw new RangeError(`invalid page: page_size ${size}, page_number ${number}`)
  }
  return { limit: size, offset: size * number }
}

/** COUNT(*) comes back as a number from SQLite and as a string (bigint) from PostgreSQL. */
export const countOf = (row: { n: number | string | bigint }): number => Number(row.n)
