import type { Store } from '../store/index.ts'

export type UsageCounter = {
  /** Counts one request of the key; memory only, never a write per request. */
  count(apiKeyId: string, now?: number): void
  /** Writes what was counted since the last flush, in one batch. */
  flush(): Promise<void>
  /** Stops the timer and flushes. */
  close(): Promise<void>
}

type Tally = { api_key_id: string; date: string; count: number; last_used_at: number }

/**
 * Per-key, per-day request counts and last-used times, kept in memory and written to the store
 * in batches every `flushMs`. A failed write puts its counts back, so nothing is lost.
 */
export function createUsageCounter(options: { store: Store; flushMs: number; onError(err: unknown): void }): UsageCounter {
  let pending = new Map<string, Tally>()
  let flushing: Promise<void> = Promise.resolve()

  function add(tally: Tally): void {
    const slot = `${tally.api_key_id} ${tally.date}`
    const seen = pending.get(slot)
    if (!seen) pending.set(slot, { ...tally })
    else {
      seen.count += tally.count
      seen.last_used_at = Math.max(seen.last_used_at, tally.last_used_at)
    }
  }

  function flush(): Promise<void> {
    flushing = flushing.then(async () => {
      if (pending.size === 0) return
      const batch = [...pending.values()]
      pending = new Map()
      try {
        await options.store.recordApiKeyUsage(batch)
      } catch (err) {
        for (const tally of batch) add(tally)
        options.onError(err)
      }
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
    count(apiKeyId, now = Date.now()) {
      add({ api_key_id: apiKeyId, date: dateOf(now), count: 1, last_used_at: Math.floor(now / 1000) })
    },
    flush,
    async close() {
      clearInterval(timer)
      await flush()
    },
  }
}
