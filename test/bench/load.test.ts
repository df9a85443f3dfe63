import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { credentialHeader, percentile, runLoad } from '../../bench/load.ts'
import { rotation } from '../../bench/tokens.ts'

describe('percentile', () => {
  const hundred = Float64Array.from({ length: 100 }, (_, i) => i + 1)
  it('takes the nearest rank of an ascending list', () => {
    assert.equal(percentile(hundred, 0.5), 50)
    assert.equal(percentile(hundred, 0.99), 99)
    assert.equal(percentile(hundred, 0.999), 100)
    assert.equal(percentile(hundred, 0), 1)
  })

  it('is NaN for no samples', () => {
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 0.5)))
  })
})

describe('rotation', () => {
  it('walks the tokens round-robin', () => {
    const next = rotation(['a', 'b', 'c'])
    assert.deepEqual([next(), next(), next(), next()], ['a', 'b', 'c', 'a'])
  })

  it('needs a token', () => {
    assert.throws(() => rotation([]), /at least one token/)
  })
})

describe('credentialHeader', () => {
  it('sends a token as a bearer credential and an API key in X-Api-Key', () => {
    assert.deepEqual(credentialHeader('authorization')('t0k'), { authorization: 'Bearer t0k' })
    assert.deepEqual(credentialHeader('x-api-key')('gtu_abc'), { 'x-api-key': 'gtu_abc' })
  })
})

describe('runLoad', () => {
  it('paces the load to ratePerSecond over all connections, and without it sends as fast as the server answers', async () => {
    const server = createServer((_, res) => res.end('ok'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const paced = await runLoad({ origin, path: '/', connections: 8, durationS: 2, ratePerSecond: 50 })
      const free = await runLoad({ origin, path: '/', connections: 8, durationS: 2 })
      // Two seconds at 50 a second, whatever the machine: far under what the same server answers
      // unpaced. autocannon splits the rate over the connections and rounds each one's up (a CI
      // run counted 120), so the bound is twice the 100 asked for.
      assert.ok(paced.responses >= 60 && paced.responses <= 200, `paced: ${paced.responses} responses`)
      assert.ok(free.responses > 1_000, `unpaced: ${free.responses} responses`)
      assert.deepEqual(Object.keys(paced.statusCounts), ['200'])
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
