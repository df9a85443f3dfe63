import type { Redis } from 'ioredis'
import { emissionInterval, gcraDecisions } from './gcra.ts'
import type { Budget, LimitDecision, Limiter } from './limiter.ts'

export type RedisLimiterState = 'redis' | 'fallback'

export type RedisLimiterOptions = {
  /**
   * The shared client. Create it with `enableOfflineQueue: false` so commands fail fast while it
   * is disconnected; the limiter also skips Redis whenever the client is not `ready`. The caller
   * owns the client: `close()` does not quit it.
   */
  redis: Redis
  /** Answers while Redis is slow or down (normally the memory limiter). */
  fallback: Limiter
  /** How long one decision may wait for Redis before the fallback answers. Default 50. */
  timeoutMs?: number
  /** Default `gh:rl:`. */
  keyPrefix?: string
  /** How long to stay on the fallback after a failure before trying Redis again. Default 1000. */
  retryAfterMs?: number
  /** Called once per transition; the caller logs it. */
  onStateChange?: (state: RedisLimiterState, err?: unknown) => void
}

export interface RedisLimiter extends Limiter {
  takeAll(budgets: readonly Budget[], now?: number): Promise<LimitDecision[]>
  state(): RedisLimiterState
  /** Detaches from the client and stops timers; does not quit the client. */
  close(): void
}

const COMMAND = 'gatehouseGcraTakeAll'

/**
 * The same GCRA as memory.ts over all of a request's budgets in one atomic script, on the Redis
 * server clock (replicas with skewed clocks agree): every key is read and decided before any is
 * written, and all are charged only if all have room. KEYS the budgets' keys; ARGV per key its
 * emission interval T in µs then its limit. Lua numbers are doubles: µs timestamps stay exact below
 * 2^53, but tostring() would print them with 14 significant digits, hence string.format('%.0f').
 * Returns each key's debt in µs before the request, from which gcra.ts derives the decisions.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = redis.call('MGET', unpack(KEYS))
local debts = {}
local admitted = true
for i = 1, #KEYS do
  local tat = tonumber(stored[i])
  local debt = 0
  if tat ~= nil and tat >= now then debt = tat - now end
  debts[i] = debt
  if debt > (tonumber(ARGV[2 * i]) - 1) * tonumber(ARGV[2 * i - 1]) then admitted = false end
end
if admitted then
  for i = 1, #KEYS do
    local newTat = now + debts[i] + tonumber(ARGV[2 * i - 1])
    redis.call('SET', KEYS[i], string.format('%.0f', newTat), 'PX', math.ceil((newTat - now) / 1000) + 1)
  end
end
return debts
`

type GcraClient = Redis & {
  /** ioredis's form for a variable number of keys: the count first, then the keys, then ARGV. */
  [COMMAND](numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number[]>
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

/**
 * A limiter whose state lives in Redis, shared by every replica. When Redis errors, is not
 * connected, or is slower than `timeoutMs`, the decision comes from `fallback` and the limiter
 * switches to 'fallback'; it retries Redis after `retryAfterMs` (or as soon as the client
 * reconnects) and switches back on the first answer. `now` is ignored: Redis's clock rules.
 */
export function createRedisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const { redis, fallback, onStateChange } = options
  const timeoutMs = options.timeoutMs ?? 50
  const keyPrefix = options.keyPrefix ?? 'gh:rl:'
  const retryAfterMs = options.retryAfterMs ?? 1000
  let current: RedisLimiterState = 'redis'
  let nextAttemptAt = 0
  let closed = false

  redis.defineCommand(COMMAND, { lua: GCRA_LUA })
  const client = redis as GcraClient

  function setState(next: RedisLimiterState, err?: unknown): void {
    if (next === current) return
    current = next
    try {
      onStateChange?.(next, err)
    } catch {
      // a throwing listener must not break decisions
    }
  }

  function withTimeout<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(timeoutMs)), timeoutMs)
      promise.then(
        (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        (e: unknown) => {
          clearTimeout(timer)
          reject(e)
        },
      )
    })
  }

  function fail(err: unknown): void {
    nextAttemptAt = Date.now() + retryAfterMs
    setState('fallback', err)
  }

  // Back to Redis as soon as the client reconnects, without waiting for traffic.
  const onReady = (): void => {
    if (closed || current === 'redis') return
    nextAttemptAt = 0
    withTimeout(redis.ping()).then(
      () => {
        if (!closed) setState('redis')
      },
      () => {},
    )
  }
  redis.on('ready', onReady)
  // Connection errors surface through onStateChange (once); without a listener ioredis would print
  // every reconnect failure.
  const onError = (): void => {}
  redis.on('error', onError)

  async function takeAll(budgets: readonly Budget[], now?: number): Promise<LimitDecision[]> {
    // No budget, nothing to share: no round trip.
    if (budgets.length === 0) return []
    if (current === 'fallback' && Date.now() < nextAttemptAt) return fallback.takeAll(budgets, now)
    if (redis.status !== 'ready') {
      fail(new Error(`redis client is ${redis.status}`))
      return fallback.takeAll(budgets, now)
    }
    // One probe per cooldown while on the fallback, so a dead Redis is not hammered.
    if (current === 'fallback') nextAttemptAt = Date.now() + retryAfterMs
    const intervals = budgets.map(({ spec }) => emissionInterval(spec))
    const args: Array<string | number> = budgets.map(({ key }) => keyPrefix + key)
    for (let i = 0; i < budgets.length; i++) args.push(intervals[i]!, budgets[i]!.spec.limit)
    try {
      const debts = await withTimeout(client[COMMAND](budgets.length, ...args))
      setState('redis')
      // The script admits on the same debt rule; the decisions' numbers come from the shared arithmetic.
      return gcraDecisions(budgets, intervals, debts.map(Number))
    } catch (err) {
      fail(err)
      return fallback.takeAll(budgets, now)
    }
  }

  return {
    takeAll,
    state: () => current,
    close() {
      closed = true
      redis.off('ready', onReady)
      redis.off('error', onError)
    },
  }
}
