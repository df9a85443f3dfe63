import type { Redis } from 'ioredis'
import type { RateSpec } from '../config/units.ts'
import { emissionInterval, gcraDecision } from './gcra.ts'
import type { LimitDecision, Limiter } from './limiter.ts'

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
  take(key: string, spec: RateSpec, name: string, now?: number): Promise<LimitDecision>
  state(): RedisLimiterState
  /** Detaches from the client and stops timers; does not quit the client. */
  close(): void
}

const COMMAND = 'gatehouseGcraTake'

/**
 * The same GCRA as memory.ts, atomically, on the Redis server clock (replicas with skewed clocks
 * agree). KEYS[1] the key, ARGV[1] the emission interval T in µs, ARGV[2] the limit.
 * Lua numbers are doubles: µs timestamps stay exact below 2^53, but tostring() would print
 * them with 14 significant digits, hence string.format('%.0f').
 * Returns { allowed (0|1), debt µs, wait µs }.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = now
if stored ~= nil and stored >= now then tat = stored end
local debt = tat - now
if debt > tolerance then
  return { 0, debt, debt - tolerance }
end
local newTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', newTat), 'PX', math.ceil((newTat - now) / 1000) + 1)
return { 1, debt, 0 }
`

type GcraClient = Redis & {
  [COMMAND](key: string, interval: number, limit: number): Promise<[number, number, number]>
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

  redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: GCRA_LUA })
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

  async function take(key: string, spec: RateSpec, name: string, now?: number): Promise<LimitDecision> {
    if (current === 'fallback' && Date.now() < nextAttemptAt) return fallback.take(key, spec, name, now)
    if (redis.status !== 'ready') {
      fail(new Error(`redis client is ${redis.status}`))
      return fallback.take(key, spec, name, now)
    }
    // One probe per cooldown while on the fallback, so a dead Redis is not hammered.
    if (current === 'fallback') nextAttemptAt = Date.now() + retryAfterMs
    const interval = emissionInterval(spec)
    try {
      const reply = await withTimeout(client[COMMAND](keyPrefix + key, interval, spec.limit))
      setState('redis')
      // The script decides on the same debt rule; the decision's numbers come from the shared arithmetic.
      return gcraDecision(spec, name, interval, Number(reply[1]))
    } catch (err) {
      fail(err)
      return fallback.take(key, spec, name, now)
    }
  }

  return {
    take,
    state: () => current,
    close() {
      closed = true
      redis.off('ready', onReady)
      redis.off('error', onError)
    },
  }
}
