import { sql } from 'kysely'
import type { Kysely } from 'kysely'
import type { Database } from './schema.ts'
import type { Store, SubjectUsage } from './types.ts'

/** What one flush of API-key usage writes: a count per key and date, and the latest use per key. */
export type ApiKeyUsageWrites = {
  counts: { api_key_id: string; date: string; count: number }[]
  lastUsed: { api_key_id: string; last_used_at: number }[]
}

/**
 * The flush's batch merged so that each statement touches a row once, in the order of the rows'
 * keys. Every process writes in that one order, so replicas flushing overlapping keys at once
 * wait on each other instead of deadlocking: in the batch's own order, two transactions holding
 * rows the other wants next were aborted by PostgreSQL (40P01), their counts retried a flush later.
 */
export function apiKeyUsageWrites(batch: Parameters<Store['recordApiKeyUsage']>[0]): ApiKeyUsageWrites {
  const counts = new Map<string, { api_key_id: string; date: string; count: number }>()
  const lastUsed = new Map<string, number>()
  for (const entry of batch) {
    const slot = `${entry.api_key_id}\u0000${entry.date}`
    const seen = counts.get(slot)
    if (seen === undefined) counts.set(slot, { api_key_id: entry.api_key_id, date: entry.date, count: entry.count })
    else seen.count += entry.count
    lastUsed.set(entry.api_key_id, Math.max(lastUsed.get(entry.api_key_id) ?? entry.last_used_at, entry.last_used_at))
  }
  return {
    counts: inKeyOrder(counts).map(([, count]) => count),
    lastUsed: inKeyOrder(lastUsed).map(([api_key_id, last_used_at]) => ({ api_key_id, last_used_at })),
  }
}

/** Adds one key's count for a date; inserting from the key's own row drops counts of a key deleted since they were counted. */
export function addUsageCount(db: Kysely<Database>, { api_key_id, date, count }: ApiKeyUsageWrites['counts'][number]) {
  return db
    .insertInto('api_key_usage')
    .columns(['api_key_id', 'date', 'count'])
    .expression((eb) =>
      eb
        .selectFrom('api_keys')
        // Cast so PostgreSQL knows the parameters' types inside a SELECT list.
        .select(['api_keys.api_key_id', sql<string>`cast(${date} as text)`.as('date'), sql<number>`cast(${count} as bigint)`.as('count')])
        .where('api_keys.api_key_id', '=', api_key_id),
    )
    .onConflict((oc) =>
      oc.columns(['api_key_id', 'date']).doUpdateSet((eb) => ({
        count: eb(eb.ref('api_key_usage.count'), '+', eb.ref('excluded.count')),
      })),
    )
}

/** Moves a key's last_used_at forward, never back (flushes of several processes may arrive out of order). */
export function moveLastUsed(db: Kysely<Database>, { api_key_id, last_used_at }: ApiKeyUsageWrites['lastUsed'][number]) {
  return db
    .updateTable('api_keys')
    .set({ last_used_at })
    .where('api_key_id', '=', api_key_id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', last_used_at)]))
}

/** A flush's user and org counts merged per subject and date, so each upsert touches a row once, in key order (see apiKeyUsageWrites). */
export function subjectUsageWrites(batch: readonly SubjectUsage[]): SubjectUsage[] {
  const counts = new Map<string, SubjectUsage>()
  for (const entry of batch) {
    const slot = `${entry.kind}\u0000${entry.id}\u0000${entry.date}`
    const seen = counts.get(slot)
    if (seen === undefined) counts.set(slot, { ...entry })
    else seen.count += entry.count
  }
  return inKeyOrder(counts).map(([, count]) => count)
}

/** A Map's entries sorted by key, by UTF-16 code units: the same order in every process. */
function inKeyOrder<V>(map: Map<string, V>): [string, V][] {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Adds one user's or org's count for a date. */
export function addSubjectCount(db: Kysely<Database>, { kind, id, date, count }: SubjectUsage) {
  return db
    .insertInto('subject_usage')
    .values({ subject_kind: kind, subject_id: id, date, count })
    .onConflict((oc) =>
      oc.columns(['subject_kind', 'subject_id', 'date']).doUpdateSet((eb) => ({
        count: eb(eb.ref('subject_usage.count'), '+', eb.ref('excluded.count')),
      })),
    )
}
