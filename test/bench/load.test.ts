import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { credentialHeader, percentile } from '../../bench/load.ts'
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
