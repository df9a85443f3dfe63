import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { memoizeRecent } from '../../src/cache/index.ts'

/** A memoized upper-casing that records every input it actually computed. */
function counted(capacity: number) {
  const computed: string[] = []
  const memo = memoizeRecent((input) => {
    computed.push(input)
    return input.toUpperCase()
  }, capacity)
  return { memo, computed }
}

describe('memoizeRecent', () => {
  it('computes an input once while it stays recent, and answers what the function answers', () => {
    const { memo, computed } = counted(2)
    assert.deepEqual(['a', 'b', 'a', 'a', 'b'].map(memo), ['A', 'B', 'A', 'A', 'B'])
    assert.deepEqual(computed, ['a', 'b'])
  })

  it('holds at most two generations: an input not asked for in them is computed again', () => {
    const { memo, computed } = counted(2)
    for (const input of ['a', 'b', 'c', 'd', 'e']) memo(input)
    // 'a' and 'b' filled the first generation, 'c' and 'd' the second; 'e' dropped the first.
    memo('a')
    assert.deepEqual(computed, ['a', 'b', 'c', 'd', 'e', 'a'])
  })

  it('moves an input found in the older generation to the newer one, so a hot input survives', () => {
    const { memo, computed } = counted(2)
    for (const input of ['hot', 'x', 'y', 'hot', 'z', 'w', 'hot']) memo(input)
    assert.equal(computed.filter((input) => input === 'hot').length, 1)
  })
})
