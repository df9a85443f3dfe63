import type { Redis } from 'ioredis'
import { emissionInterval, gcraDecisions } from './gcra.ts'
import type { Budget, LimitDecision, Limiter } from './limiter.ts'
import type { MemoryLimiter } from './memory.ts'
import type { LimiterSource, Metrics } from '../metrics/index.ts'
import { formatDuration } from '../units/index.ts'
import type { RateSpec } from '../units/index.ts'

export type RedisLimiterState = 'redis' | 'fallback'

export type RedisLimiterOptions = {
  /**
   * The shared client. Create it with `enableOfflineQueue: false` so commands fail fast while it
   * is disconnected; the limiter also skips Redis whenever the client is not `ready`. The caller
   * owns the client: `close()` does not quit it.
   */
  redis: Redis
  /**
   * Answers while the breaker is open or Redis did not answer in time. Every Redis answer is
   * mirrored into it, so it starts from the state Redis last reported, not from a full budget.
   */
  fallback: MemoryLimiter
  /** How long one decision waits for Redis before the fallback answers it. Default 2000. */
  timeoutMs?: number
  /** Consecutive timeouts that open the breaker (a connection error opens it at once). Default 3. */
  breakerTimeouts?: number
  /** How long the breaker stays open before one request probes Redis again. Default 1000. */
  retryAfterMs?: number
  /**
   * How many replicas share the budgets: while on the fallback this replica grants
   * ceil(limit / replicas) per window, so the replicas together stay near one budget. Default 1.
   */
  replicas?: number
  /** Default `gh:rl:`. */
  keyPrefix?: string
  /** Called once per transition; the caller logs it. */
  onStateChange?: (state: RedisLimiterState, err?: unknown) => void
  /** Told of each spending decision and whether Redis or the fallback made it. */
  metrics?: Metrics
}

export interface RedisLimiter extends Limiter {
  takeAll(budgets: readonly Budget[], now?: number): Promise<LimitDecision[]>
  peekAll(budgets: readonly Budget[], now?: number): Promise<LimitDecision[]>
  state(): RedisLimiterState
  /** Detaches from the client and stops timers; does not quit the client. */
  close(): void
}

const COMMAND = 'gatehouseGcraTakeAll'

/**
 * The same GCRA as memory.ts over all of a request's budgets in one atomic script, on the Redis
 * server clock (replicas with skewed clocks agree): every key is read and decided before any is
 * written, and all are charged only if all have room. KEYS the budgets' keys; ARGV per key its
 * emission interval T in µs then its limit, and last whether to charge at all (1, or 0 to peek). Lua numbers are doubles: µs timestamps stay exact below
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
if admitted and ARGV[2 * #KEYS + 1] == '1' then
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
 * A limiter whose state lives in Redis, shared by every replica, behind a circuit breaker.
 *
 * Closed ('redis'): every decision waits for Redis, up to `timeoutMs` — long enough that a busy
 * but healthy Redis always answers, so the shared budget stays exact under load. A decision Redis
 * does not answer in time is taken by the fallback; `breakerTimeouts` of them in a row, a command
 * error, or a client that is not connected open the breaker.
 *
 * Open ('fallback'): decisions come from the fallback with no round trip. After `retryAfterMs`
 * one request probes Redis (the others stay local until it answers), and a reconnecting client
 * probes at once; the first answer in time closes the breaker.
 *
 * The fallback is never a fresh budget: each Redis answer leaves its debts in it, scaled to this
 * replica's share (`replicas`), so an outage grants about what the shared budget had left.
 * `now` is ignored while Redis answers: Redis's clock rules.
 */
export function createRedisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const { redis, fallback, onStateChange } = options
  const timeoutMs = options.timeoutMs ?? 2000
  const breakerTimeouts = options.breakerTimeouts ?? 3
  const retryAfterMs = options.retryAfterMs ?? 1000
  const keyPrefix = options.keyPrefix ?? 'gh:rl:'
  const share = createShare(options.replicas ?? 1)
  let current: RedisLimiterState = 'redis'
  let timeoutsInARow = 0
  let probeAt = 0
  let probing = false
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
      let settled = false
      // A busy event loop runs due timers before it reads the sockets: the answer may already be
      // waiting. The check phase comes after this turn's I/O, so only a reply that truly has not
      // arrived is called late.
      const timer = setTimeout(() => setImmediate(() => settled || reject(new TimeoutError(timeoutMs))), timeoutMs)
      promise.then(
        (v) => {
          settled = true
          clearTimeout(timer)
          resolve(v)
        },
        (e: unknown) => {
          settled = true
          clearTimeout(timer)
          reject(e)
        },
      )
    })
  }

  function open(err: unknown): void {
    probeAt = Date.now() + retryAfterMs
    timeoutsInARow = 0
    setState('fallback', err)
  }

  function answered(): void {
    timeoutsInARow = 0
    setState('redis')
  }

  function failed(err: unknown, probe: boolean): void {
    if (probe || !(err instanceof TimeoutError) || ++timeoutsInARow >= breakerTimeouts) open(err)
  }

  /** Whether this decision goes to Redis; while open, only one probe per cooldown does. */
  function viaRedis(): boolean | 'probe' {
    if (redis.status !== 'ready') {
      if (current === 'redis') open(new Error(`redis client is ${redis.status}`))
      return false
    }
    if (current === 'redis') return true
    if (probing || Date.now() < probeAt) return false
    return 'probe'
  }

  // Back to Redis as soon as the client reconnects, without waiting for traffic.
  const onReady = (): void => {
    if (closed || current === 'redis') return
    withTimeout(redis.ping()).then(
      () => {
        if (!closed) answered()
      },
      () => {},
    )
  }
  redis.on('ready', onReady)
  // Connection errors surface through onStateChange (once); without a listener ioredis would print
  // every reconnect failure.
  const onError = (): void => {}
  redis.on('error', onError)

  function local(budgets: readonly Budget[], now: number | undefined, spend: boolean): LimitDecision[] {
    const shared = share.budgets(budgets)
    if (!spend) return fallback.peekAll(shared, now)
    return counted('local', fallback.takeAll(shared, now))
  }

  function counted(decidedBy: LimiterSource, decisions: LimitDecision[]): LimitDecision[] {
    options.metrics?.limit(
      decidedBy,
      decisions.every((d) => d.allowed),
    )
    return decisions
  }

  async function decideAll(budgets: readonly Budget[], now: number | undefined, spend: boolean): Promise<LimitDecision[]> {
    // No budget, nothing to share: no round trip.
    if (budgets.length === 0) return []
    const route = viaRedis()
    if (!route) return local(budgets, now, spend)
    const probe = route === 'probe'
    if (probe) probing = true
    const intervals = budgets.map(({ spec }) => emissionInterval(spec))
    const args: Array<string | number> = budgets.map(({ key }) => keyPrefix + key)
    for (let i = 0; i < budgets.length; i++) args.push(intervals[i]!, budgets[i]!.spec.limit)
    args.push(spend ? 1 : 0)
    let debts: number[]
    try {
      debts = (await withTimeout(client[COMMAND](budgets.length, ...args))).map(Number)
    } catch (err) {
      failed(err, probe)
      return local(budgets, now, spend)
    } finally {
      if (probe) probing = false
    }
    answered()
    // The script admits on the same debt rule; the decisions' numbers come from the shared arithmetic.
    const decisions = gcraDecisions(budgets, intervals, debts)
    const charged = spend && decisions.every((d) => d.allowed)
    for (let i = 0; i < budgets.length; i++) {
      const { key, spec } = budgets[i]!
      fallback.remember(key, share.debt(spec, debts[i]! + (charged ? intervals[i]! : 0), intervals[i]!))
    }
    return spend ? counted('redis', decisions) : decisions
  }

  return {
    takeAll: (budgets, now) => decideAll(budgets, now, true),
    peekAll: (budgets, now) => decideAll(budgets, now, false),
    // A client that is not connected sends every decision to the fallback, breaker closed or not.
    state: () => (redis.status === 'ready' ? current : 'fallback'),
    close() {
      closed = true
      redis.off('ready', onReady)
      redis.off('error', onError)
    },
  }
}

/**
 * One replica's part of each budget while it decides alone: ceil(limit / replicas) over the same
 * window, and the shared debt translated into it. The share of `d` µs of shared debt is d/(R·T)
 * requests, which at the share's interval T' is d·T'/(R·T) µs (= d when R divides the limit).
 */
function createShare(replicas: number) {
  const specs = new WeakMap<RateSpec, { spec: RateSpec; interval: number }>()
  function of(spec: RateSpec): { spec: RateSpec; interval: number } {
    let part = specs.get(spec)
    if (!part) {
      const limit = Math.ceil(spec.limit / replicas)
      const shareSpec = { limit, windowMs: spec.windowMs, text: `${limit}/${formatDuration(spec.windowMs)}` }
      part = { spec: shareSpec, interval: emissionInterval(shareSpec) }
      specs.set(spec, part)
    }
    return part
  }
  return {
    budgets: (budgets: readonly Budget[]): readonly Budget[] =>
      replicas === 1 ? budgets : budgets.map((budget) => ({ ...budget, spec: of(budget.spec).spec })),
    debt: (spec: RateSpec, sharedDebt: number, interval: number): number =>
      replicas === 1 ? sharedDebt : Math.round((sharedDebt * of(spec).interval) / (replicas * interval)),
  }
}
