import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { redisUnavailable } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import { createMemoryLimiter, createRedisLimiter } from '../../src/ratelimit/index.ts'
import type { RedisLimiterState } from '../../src/ratelimit/index.ts'
import type { RateSpec } from '../../src/units/index.ts'

const url = process.env.GATEHOUSE_TEST_REDIS_URL
const reason = await redisUnavailable('Redis rate-limit tests')

function client(u: string, extra: Record<string, unknown> = {}): Redis {
  const r = new Redis(u, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...extra })
  r.on('error', () => {}) // expected while a test has killed its server
  return r
}

async function ready(r: Redis): Promise<void> {
  if (r.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis client not ready in 5 s')), 5000)
    r.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const T0 = 1_700_000_000_000

describe('redis limiter (GCRA on the Redis clock)', { skip: reason }, () => {
  const prefix = `gh:test:rl:${randomUUID()}:`
  let a: Redis
  let b: Redis

  before(async () => {
    a = client(url!)
    b = client(url!)
    await Promise.all([ready(a), ready(b)])
  })

  after(async () => {
    const keys = await a.keys(`${prefix}*`)
    if (keys.length) await a.del(...keys)
    a.disconnect()
    b.disconnect()
  })

  function limiter(r: Redis) {
    const changes: RedisLimiterState[] = []
    const l = createRedisLimiter({
      redis: r,
      fallback: createMemoryLimiter({ maxTracked: 1000 }),
      timeoutMs: 1000,
      keyPrefix: prefix,
      onStateChange: (s) => changes.push(s),
    })
    return { l, changes }
  }

  it('allows exactly `limit` to a fresh key, with the same decisions as the memory limiter', async () => {
    // T = 6 s: the few ms these calls take never cross a second boundary the memory run hits.
    const spec: RateSpec = { limit: 10, windowMs: 60_000, text: '10/1m' }
    const { l, changes } = limiter(a)
    const memory = createMemoryLimiter({ maxTracked: 10 })
    for (let i = 0; i < 12; i++) {
      const got = (await l.takeAll([{ key: 'fresh', spec, name: 'user' }]))[0]!
      const want = memory.takeAll([{ key: 'fresh', spec, name: 'user' }], T0)[0]!
      const { waitSeconds: gotWait, ...gotRest } = got
      const { waitSeconds: wantWait, ...wantRest } = want
      assert.deepEqual(gotRest, wantRest, `request ${i + 1}`)
      // Redis's clock moved on by a few ms where the memory run stood still.
      assert.ok(gotWait <= wantWait && wantWait - gotWait < 1, `wait ${gotWait} vs ${wantWait}`)
    }
    assert.equal(l.state(), 'redis')
    assert.deepEqual(changes, [])
    const ttl = await a.pttl(`${prefix}fresh`)
    assert.ok(ttl > 59_000 && ttl <= 60_001, `key expires with its TAT (pttl ${ttl})`)
    l.close()
  })

  it('peekAll answers what takeAll would, and charges nothing in Redis', async () => {
    const spec: RateSpec = { limit: 2, windowMs: 60_000, text: '2/1m' }
    const budgets = [{ key: 'peeked', spec, name: 'route' }]
    const { l } = limiter(a)
    for (let i = 0; i < 3; i++) assert.deepEqual(await l.peekAll(budgets), await l.peekAll(budgets))
    assert.equal(await a.exists(`${prefix}peeked`), 0, 'peeking wrote nothing')
    const peeked = (await l.peekAll(budgets))[0]!
    const taken = (await l.takeAll(budgets))[0]!
    assert.deepEqual([peeked.allowed, peeked.remaining], [taken.allowed, taken.remaining])
    assert.equal((await l.takeAll(budgets))[0]!.remaining, 0)
    assert.equal((await l.peekAll(budgets))[0]!.allowed, false)
    l.close()
  })

  it('shares one budget between two replicas', async () => {
    const spec: RateSpec = { limit: 5, windowMs: 60_000, text: '5/1m' }
    const one = limiter(a).l
    const two = limiter(b).l
    const seq: boolean[] = []
    for (let i = 0; i < 4; i++) {
      seq.push((await one.takeAll([{ key: 'shared', spec, name: 'user' }]))[0]!.allowed)
      seq.push((await two.takeAll([{ key: 'shared', spec, name: 'user' }]))[0]!.allowed)
    }
    assert.deepEqual(seq, [true, true, true, true, true, false, false, false])
    one.close()
    two.close()
  })

  it('admits exactly `limit` of concurrent takes from two replicas', async () => {
    const spec: RateSpec = { limit: 20, windowMs: 60_000, text: '20/1m' }
    const one = limiter(a)
    const two = limiter(b)
    const takes = []
    for (let i = 0; i < 50; i++) {
      takes.push(one.l.takeAll([{ key: 'race', spec, name: 'user' }]), two.l.takeAll([{ key: 'race', spec, name: 'user' }]))
    }
    const decisions = (await Promise.all(takes)).flat()
    assert.equal(decisions.filter((d) => d.allowed).length, 20)
    const remaining = decisions
      .filter((d) => d.allowed)
      .map((d) => d.remaining)
      .sort((x, y) => x - y)
    assert.deepEqual(
      remaining,
      Array.from({ length: 20 }, (_, i) => i),
      'each slot granted once',
    )
    assert.deepEqual([...one.changes, ...two.changes], [], 'no decision came from the fallback')
    one.l.close()
    two.l.close()
  })

  it('charges none of a request’s budgets when one refuses, all of them when all admit', async () => {
    const user: RateSpec = { limit: 3, windowMs: 60_000, text: '3/1m' }
    const route: RateSpec = { limit: 1, windowMs: 60_000, text: '1/1m' }
    const onRoute = [
      { key: 'atomic:user', spec: user, name: 'user' },
      { key: 'atomic:route', spec: route, name: 'route' },
    ]
    const elsewhere = [{ key: 'atomic:user', spec: user, name: 'user' }]
    const { l, changes } = limiter(a)
    const admitted = await l.takeAll(onRoute)
    assert.deepEqual(
      admitted.map((d) => [d.allowed, d.remaining]),
      [
        [true, 2],
        [true, 0],
      ],
    )
    const userTtl = await a.pttl(`${prefix}atomic:user`)
    for (let i = 0; i < 2; i++) {
      const refused = await l.takeAll(onRoute)
      assert.deepEqual(
        refused.map((d) => [d.name, d.allowed, d.remaining]),
        [
          ['user', true, 2],
          ['route', false, 0],
        ],
      )
    }
    const ttl = await a.pttl(`${prefix}atomic:user`)
    assert.ok(ttl <= userTtl, `the refusals did not push the user key's TAT (pttl ${userTtl} → ${ttl})`)
    const after = []
    for (let i = 0; i < 3; i++) after.push((await l.takeAll(elsewhere))[0]!)
    assert.deepEqual(
      after.map((d) => [d.allowed, d.remaining]),
      [
        [true, 1],
        [true, 0],
        [false, 0],
      ],
      'the route’s 429s left the user two requests elsewhere',
    )
    assert.deepEqual(changes, [], 'every decision came from Redis')
    l.close()
  })

  it('decides several budgets as the memory limiter does', async () => {
    const specs: RateSpec[] = [
      { limit: 4, windowMs: 60_000, text: '4/1m' },
      { limit: 2, windowMs: 60_000, text: '2/1m' },
      { limit: 6, windowMs: 60_000, text: '6/1m' },
    ]
    const { l, changes } = limiter(a)
    const memory = createMemoryLimiter({ maxTracked: 10 })
    // Requests drawing on different subsets, so some are refused by one budget while others admit.
    const subsets = [[0, 1], [0], [1, 2], [0, 2], [0, 1, 2], [2], [0], [1], [2], [0, 2]]
    for (const [n, subset] of subsets.entries()) {
      const budgets = subset.map((i) => ({ key: `same:${i}`, spec: specs[i]!, name: `b${i}` }))
      const got = await l.takeAll(budgets)
      const want = memory.takeAll(budgets, T0)
      assert.deepEqual(
        got.map((d) => [d.name, d.allowed, d.remaining]),
        want.map((d) => [d.name, d.allowed, d.remaining]),
        `request ${n + 1}`,
      )
    }
    assert.deepEqual(changes, [])
    l.close()
  })

  it('never over-admits a budget under concurrent takeAll over overlapping keys from two replicas', async () => {
    // T ≥ 4 s: nothing refills during the race, so admissions and charges must match exactly.
    const specs: RateSpec[] = [
      { limit: 10, windowMs: 60_000, text: '10/1m' },
      { limit: 15, windowMs: 60_000, text: '15/1m' },
      { limit: 7, windowMs: 60_000, text: '7/1m' },
    ]
    const subsets = [[0, 1], [1, 2], [0, 2], [0, 1, 2], [1], [2, 0]]
    const one = limiter(a)
    const two = limiter(b)
    const requests = Array.from({ length: 120 }, (_, n) =>
      subsets[n % subsets.length]!.map((i) => ({ key: `overlap:${i}`, spec: specs[i]!, name: `b${i}` })),
    )
    const results = await Promise.all(requests.map((budgets, n) => (n % 2 ? one : two).l.takeAll(budgets)))
    const admitted = results.filter((decisions) => decisions.every((d) => d.allowed))
    assert.ok(admitted.length > 0, 'some requests were admitted')
    for (const [i, spec] of specs.entries()) {
      const granted = admitted.flatMap((decisions) => decisions.filter((d) => d.name === `b${i}`)).map((d) => d.remaining)
      assert.ok(granted.length <= spec.limit, `budget ${i}: ${granted.length} admitted over a limit of ${spec.limit}`)
      assert.equal(new Set(granted).size, granted.length, `budget ${i}: each slot granted once`)
      // Refused requests charged nothing: what is left is exactly the limit less the admitted ones.
      const [now] = await one.l.takeAll([{ key: `overlap:${i}`, spec, name: `b${i}` }])
      const left = spec.limit - granted.length
      assert.equal(now!.allowed, left > 0, `budget ${i}`)
      if (left > 0) assert.equal(now!.remaining, left - 1, `budget ${i}: charged only for admitted requests`)
    }
    assert.deepEqual([...one.changes, ...two.changes], [], 'no decision came from the fallback')
    one.l.close()
    two.l.close()
  })

  it('sends nothing to Redis for a request without budgets', async () => {
    const offline = client('redis://127.0.0.1:1', { lazyConnect: true })
    const { l, changes } = limiter(offline)
    assert.deepEqual(await l.takeAll([]), [])
    assert.equal(offline.status, 'wait', 'Redis was not asked: the client never even connected')
    assert.deepEqual(changes, [], 'no failed attempt')
    l.close()
    offline.disconnect()
  })
})

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}

async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return Date.now() - start
}

describe('redis limiter fallback', { skip: reason }, () => {
  let server: ChildProcess | undefined
  let r: Redis | undefined

  after(async () => {
    r?.disconnect()
    if (server) await stop(server)
  })

  it('falls back to the local limiter, from the state Redis last reported, when Redis dies, and returns by itself', async () => {
    const port = await freePort()
    server = startRedis(port)
    await until('redis-server to accept connections', 5000, () => accepts(port))
    r = client(`redis://127.0.0.1:${port}`, { retryStrategy: () => 100 })
    await ready(r)

    const changes: Array<[RedisLimiterState, unknown]> = []
    const timeoutMs = 50
    const spec: RateSpec = { limit: 3, windowMs: 60_000, text: '3/1m' }
    const l = createRedisLimiter({
      redis: r,
      fallback: createMemoryLimiter({ maxTracked: 100 }),
      timeoutMs,
      retryAfterMs: 200,
      onStateChange: (s, err) => changes.push([s, err]),
    })

    assert.equal((await l.takeAll([{ key: 'k', spec, name: 'user' }]))[0]!.remaining, 2)
    assert.equal((await l.takeAll([{ key: 'k', spec, name: 'user' }]))[0]!.remaining, 1)
    assert.equal(l.state(), 'redis')

    await stop(server)
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      const d = (await l.takeAll([{ key: 'k', spec, name: 'user' }]))[0]!
      const elapsed = performance.now() - start
      assert.ok(elapsed < timeoutMs + 100, `decision ${i + 1} took ${elapsed.toFixed(1)} ms`)
      // Not a fresh budget: Redis had charged 2 of 3, so the fallback grants the last one only.
      assert.equal(d.remaining, 0)
      assert.equal(d.allowed, i < 1)
    }
    assert.equal(l.state(), 'fallback')
    assert.equal(changes.length, 1, 'onStateChange fired once')
    assert.equal(changes[0]![0], 'fallback')
    assert.ok(changes[0]![1] instanceof Error)

    server = startRedis(port)
    const back = await until('the limiter to return to redis', 10_000, async () => {
      await l.takeAll([{ key: 'other', spec, name: 'user' }])
      return l.state() === 'redis'
    })
    console.log(`back on redis ${back} ms after restarting redis-server`)
    assert.deepEqual(
      changes.map(([s]) => s),
      ['fallback', 'redis'],
    )
    // A fresh server: the budget starts again in Redis.
    await until('a redis decision for k', 2000, async () => (await l.takeAll([{ key: 'k', spec, name: 'user' }]))[0]!.remaining === 2)
    l.close()
  })
})

describe('redis limiter breaker on a slow Redis', { skip: reason }, () => {
  it('waits for a slow answer; opens only after `breakerTimeouts` timeouts in a row; a probe closes it', async () => {
    const target = new URL(url!)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) })
    proxy.delayReplies(150)
    const r = client(`redis://127.0.0.1:${proxy.port}`)
    await ready(r)
    const spec: RateSpec = { limit: 100, windowMs: 60_000, text: '100/1m' }
    const budget = [{ key: 'slow', spec, name: 'user' }]
    const prefix = `gh:test:rl:${randomUUID()}:`
    const changes: RedisLimiterState[] = []
    const l = createRedisLimiter({
      redis: r,
      fallback: createMemoryLimiter({ maxTracked: 1000 }),
      timeoutMs: 300,
      breakerTimeouts: 3,
      retryAfterMs: 100,
      keyPrefix: prefix,
      onStateChange: (s) => changes.push(s),
    })
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => l.takeAll(budget)))
      assert.deepEqual(
        answers.map(([d]) => d!.remaining).sort((x, y) => x - y),
        Array.from({ length: 20 }, (_, i) => 80 + i),
        'each from Redis, each slot once',
      )
      assert.deepEqual(changes, [], 'a 150 ms answer is waited for')

      proxy.delayReplies(600)
      for (let i = 1; i <= 2; i++) {
        await l.takeAll(budget)
        assert.equal(l.state(), 'redis', `timeout ${i} alone does not open the breaker`)
      }
      await l.takeAll(budget)
      assert.equal(l.state(), 'fallback', 'the third timeout in a row opens it')
      const started = performance.now()
      const [local] = await l.takeAll(budget)
      assert.ok(performance.now() - started < 50, 'while open, decisions do not wait for Redis')
      assert.ok(local!.remaining < 80, `the fallback continues from Redis's count (remaining ${local!.remaining})`)

      proxy.delayReplies(0)
      // Let the delayed replies drain, then the cooldown pass: the next decision probes.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      await l.takeAll(budget)
      assert.equal(l.state(), 'redis', 'the probe answered in time and closed the breaker')
      assert.deepEqual(changes, ['fallback', 'redis'])
    } finally {
      l.close()
      const direct = client(url!)
      await ready(direct)
      const keys = await direct.keys(`${prefix}*`)
      if (keys.length) await direct.del(...keys)
      direct.disconnect()
      r.disconnect()
      await proxy.close()
    }
  })
})
