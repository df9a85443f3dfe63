import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { answerAsks, createRemoteLimiter } from '../../src/cluster/limits.ts'
import type { WireAsk } from '../../src/cluster/limits.ts'
import { createMemoryLimiter } from '../../src/ratelimit/index.ts'
import type { Budget } from '../../src/ratelimit/index.ts'
import { parseRate } from '../../src/units/index.ts'

const budget = (key: string, rate: string, name: string): Budget => ({ key, spec: parseRate(rate)!, name })

/** A worker's limiter whose primary is a memory limiter in this process: the compact form both ways, without the channel. */
function remoteOver(primary = createMemoryLimiter({ maxTracked: 100 })) {
  const messages: (readonly WireAsk[])[] = []
  const limiter = createRemoteLimiter((asks) => {
    messages.push(asks)
    return answerAsks(primary, asks)
  })
  return { limiter, messages }
}

describe('budget decisions over IPC (src/cluster/limits.ts)', () => {
  it('decides as the memory limiter does, field for field, allowed and refused', async () => {
    const user = budget('user:u1', '3/1m', 'user')
    const route = budget('route:0:user:u1', '2/1m', 'route')
    const local = createMemoryLimiter({ maxTracked: 100 })
    const { limiter } = remoteOver()
    for (let i = 0; i < 4; i++) {
      const now = Date.now()
      const expected = local.takeAll([user, route], now)
      const got = await limiter.takeAll([user, route])
      assert.deepEqual(
        got.map(({ waitSeconds: _w, ...rest }) => rest),
        expected.map(({ waitSeconds: _w, ...rest }) => rest),
      )
      assert.equal(got[1]!.allowed, i < 2)
      assert.equal(got[1]!.policy, route.spec, 'the decision names the budget the worker asked about')
    }
  })

  it('sends the requests of one event-loop turn as one message, decided in order: a budget of 3 admits exactly 3 of 5', async () => {
    const { limiter, messages } = remoteOver()
    const user = budget('user:u2', '3/1h', 'user')
    const decided = await Promise.all(Array.from({ length: 5 }, () => limiter.takeAll([user])))
    assert.deepEqual(
      decided.map(([d]) => d!.allowed),
      [true, true, true, false, false],
    )
    assert.equal(messages.length, 1)
    assert.equal(messages[0]!.length, 5)
    assert.ok(decided[3]![0]!.retryAfterSeconds > 0)
  })

  it('peeks without charging, and a request without a budget makes no round trip', async () => {
    const { limiter, messages } = remoteOver()
    const user = budget('user:u3', '1/1h', 'user')
    assert.equal((await limiter.peekAll([user]))[0]!.allowed, true)
    assert.equal((await limiter.takeAll([user]))[0]!.allowed, true)
    assert.equal((await limiter.takeAll([user]))[0]!.allowed, false)
    assert.deepEqual(await limiter.takeAll([]), [])
    assert.equal(messages.length, 3)
  })

  it('fails every request of a message whose answer failed (the primary is gone)', async () => {
    const limiter = createRemoteLimiter(() => Promise.reject(new Error('the primary is gone')))
    const user = budget('user:u4', '1/1h', 'user')
    const both = [limiter.takeAll([user]), limiter.takeAll([user])]
    for (const one of both) await assert.rejects(Promise.resolve(one), /the primary is gone/)
  })
})
