import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { redisUnavailable } from '../support/services.ts'
import { createMemoryLimiter, createRedisLimiter } from '../../src/ratelimit/index.ts'
import type { RedisLimiterState } from '../../src/ratelimit/index.ts'
import type { RateSpec } from '../../src/config/units.ts'

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
      const got = await l.take('fresh', spec, 'user')
      const want = memory.take('fresh', spec, 'user', T0)
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

  it('shares one budget between two replicas', async () => {
    const spec: RateSpec = { limit: 5, windowMs: 60_000, text: '5/1m' }
    const one = limiter(a).l
    const two = limiter(b).l
    const seq: boolean[] = []
    for (let i = 0; i < 4; i++) {
      seq.push((await one.take('shared', spec, 'user')).allowed)
      seq.push((await two.take('shared', spec, 'user')).allowed)
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
      takes.push(one.l.take('race', spec, 'user'), two.l.take('race', spec, 'user'))
    }
    const decisions = await Promise.all(takes)
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

  it('falls back to the local limiter when Redis dies, and returns to Redis by itself', async () => {
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

    assert.equal((await l.take('k', spec, 'user')).remaining, 2)
    assert.equal((await l.take('k', spec, 'user')).remaining, 1)
    assert.equal(l.state(), 'redis')

    await stop(server)
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      const d = await l.take('k', spec, 'user')
      const elapsed = performance.now() - start
      assert.ok(elapsed < timeoutMs + 100, `decision ${i + 1} took ${elapsed.toFixed(1)} ms`)
      // The fallback has its own fresh budget for `k`.
      assert.equal(d.remaining, Math.max(0, 2 - i))
      assert.equal(d.allowed, i < 3)
    }
    assert.equal(l.state(), 'fallback')
    assert.equal(changes.length, 1, 'onStateChange fired once')
    assert.equal(changes[0]![0], 'fallback')
    assert.ok(changes[0]![1] instanceof Error)

    server = startRedis(port)
    const back = await until('the limiter to return to redis', 10_000, async () => {
      await l.take('other', spec, 'user')
      return l.state() === 'redis'
    })
    console.log(`back on redis ${back} ms after restarting redis-server`)
    assert.deepEqual(
      changes.map(([s]) => s),
      ['fallback', 'redis'],
    )
    // A fresh server: the budget starts again in Redis.
    await until('a redis decision for k', 2000, async () => (await l.take('k', spec, 'user')).remaining === 2)
    l.close()
  })
})
