import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Identity } from '../identity/index.ts'
import type { Store, SubjectUsage } from '../store/index.ts'

/** Where the counts go at each flush: the store, or (in a worker process) the primary that writes them. */
export type UsageSink = Pick<Store, 'recordApiKeyUsage' | 'recordSubjectUsage'>

/** One key's requests on one day, with the latest use: what a flush writes and a worker ships. */
export type KeyTally = { api_key_id: string; date: string; count: number; last_used_at: number }

export type UsageCounter = {
  /**
   * Counts one request admitted on behalf of `identity`: call it once the request has passed
   * authorization and every rate limit, so refusals (401, 403, 429) are never usage. The proxy
   * calls it just before forwarding; a door that only answers allowed/refused (forward-auth)
   * calls it when it answers allowed. Counts the API key it came with, its user, and the org it
   * was authorized against (`activeOrg`, else an org key's org). Memory only, never a write per
   * request.
   */
  count(identity: Identity, now?: number): void
  /** Adds tallies counted elsewhere (a worker process's), to be written with the next flush. */
  merge(keys: readonly KeyTally[], subjects: readonly SubjectUsage[]): void
  /** Writes what was counted since the last flush, in chunks of FLUSH_CHUNK per table. */
  flush(): Promise<void>
  /** Stops the timer and flushes. */
  close(): Promise<void>
}

/** Tallies per store write: a few milliseconds of the store's one SQLite connection, most of it the commit's fsync. */
export const FLUSH_CHUNK = 100

/**
 * Per-day request counts of keys (with their last-used times), users and orgs, kept in memory and
 * written to the sink (the store) in batches every `flushMs`. A failed write puts its counts back for the
 * next flush; what is still in memory when the process dies (at most `flushMs` of traffic, more
 * while the store is failing) is lost.
 */
export function createUsageCounter(options: { store: UsageSink; flushMs: number; onError(err: unknown): void }): UsageCounter {
  let keys = new Map<string, KeyTally>()
  let subjects = new Map<string, SubjectUsage>()
  let flushing: Promise<void> = Promise.resolve()

  function addKey(tally: KeyTally): void {
    const slot = `${tally.api_key_id} ${tally.date}`
    const seen = keys.get(slot)
    if (!seen) keys.set(slot, { ...tally })
    else {
      seen.count += tally.count
      seen.last_used_at = Math.max(seen.last_used_at, tally.last_used_at)
    }
  }

  function addSubject(tally: SubjectUsage): void {
    const slot = `${tally.kind} ${tally.id} ${tally.date}`
    const seen = subjects.get(slot)
    if (!seen) subjects.set(slot, { ...tally })
    else seen.count += tally.count
  }

  /**
   * Writes one table's tallies in chunks of FLUSH_CHUNK, each its own store call (one short
   * transaction): SQLite has one connection, and a key lookup waiting behind the whole flush's
   * transaction is what made an uncached key's p99.9 hundreds of milliseconds. Before each chunk
   * the flush yields to the event loop: SQLite's chunks are synchronous writes (a commit's fsync
   * included), and without the yield they ran back to back, holding every request as one long
   * write. On a failure, that chunk's tallies and the rest go back for the next flush; the chunks
   * written before it stay written.
   */
  async function write<T>(tallies: T[], record: (batch: T[]) => Promise<void>, putBack: (tally: T) => void): Promise<void> {
    for (let start = 0; start < tallies.length; start += FLUSH_CHUNK) {
      await nextTurn()
      const chunk = tallies.slice(start, start + FLUSH_CHUNK)
      try {
        await record(chunk)
      } catch (err) {
        for (const tally of tallies.slice(start)) putBack(tally)
        options.onError(err)
        return
      }
    }
  }

  function flush(): Promise<void> {
    flushing = flushing.then(async () => {
      const keyBatch = [...keys.values()]
      const subjectBatch = [...subjects.values()]
      keys = new Map()
      subjects = new Map()
      await write(keyBatch, (b) => options.store.recordApiKeyUsage(b), addKey)
      await write(subjectBatch, (b) => options.store.recordSubjectUsage(b), addSubject)
    })
    return flushing
  }

  // The date string changes once a day; building it per request would cost more than the count.
  let day = -1
  let date = ''
  const dateOf = (now: number) => {
    const today = Math.floor(now / 86_400_000)
    if (today !== day) {
      day = today
      date = new Date(now).toISOString().slice(0, 10)
    }
    return date
  }

  const timer = setInterval(() => void flush(), options.flushMs)
  timer.unref()

  return {
    count(identity, now = Date.now()) {
      const on = dateOf(now)
      if (identity.apiKey) addKey({ api_key_id: identity.apiKey.id, date: on, count: 1, last_used_at: Math.floor(now / 1000) })
      if (identity.user) addSubject({ kind: 'user', id: identity.user.userId, date: on, count: 1 })
      const orgId = identity.activeOrg?.orgId ?? identity.org?.orgId
      if (orgId !== undefined) addSubject({ kind: 'org', id: orgId, date: on, count: 1 })
    },
    merge(keyTallies, subjectTallies) {
      for (const tally of keyTallies) addKey(tally)
      for (const tally of subjectTallies) addSubject(tally)
    },
    flush,
    async close() {
      clearInterval(timer)
      await flush()
    },
  }
}
