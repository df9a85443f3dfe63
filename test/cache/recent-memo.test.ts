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

/** Inputs long enough that their fingerprints (the last 12 characters) differ. */
const input = (name: string) => `input-${name.padStart(12, '.')}`

describe('memoizeRecent', () => {
  it('remembers an input from its second sighting on, and answers what the function answers', () => {
    const { memo, computed } = counted(4)
    const [a, b] = [input('a'), input('b')]
    assert.deepEqual(
      [a, b, a, a, a, b, b].map(memo),
      [a, b, a, a, a, b, b].map((s) => s.toUpperCase()),
    )
    // Seen once: computed and only noted; seen again: computed and kept; then answered from memory.
    assert.deepEqual(computed, [a, b, a, b])
  })

  it('keeps nothing of an input asked for once', () => {
    const { memo, computed } = counted(4)
    const once = Array.from({ length: 3 }, (_, i) => `once-${i}-${'z'.repeat(12)}${i}`)
    once.forEach(memo)
    memo(once[0]!)
    memo(once[0]!)
    // The second call computed again (it was only noted), the third was remembered.
    assert.deepEqual(computed, [...once, once[0]])
  })

  it('holds at most two generations: an input not asked for in them is noted afresh', () => {
    const { memo, computed } = counted(2)
    const [hot, ...others] = ['hot', 'c', 'd', 'e', 'f', 'g'].map(input)
    memo(hot!)
    memo(hot!)
    // Four more inputs twice each fill both generations of answers and push `hot` out.
    for (const other of others.slice(0, 4)) {
      memo(other)
      memo(other)
    }
    computed.length = 0
    memo(hot!)
    assert.deepEqual(computed, [hot])
  })

  it('moves an answer found in the older generation to the newer one, so a hot input stays', () => {
    const { memo, computed } = counted(2)
    const [hot, x, y, z] = ['hot', 'x', 'y', 'z'].map(input)
    for (const next of [hot, hot, x, x, hot, y, y, hot, z, z, hot]) memo(next!)
    assert.equal(computed.filter((c) => c === hot).length, 2)
  })

  it('answers an input from memory when it comes as another string of the same characters', () => {
    const { memo, computed } = counted(4)
    // A request's credential is a new string each time: built at run time, not one literal.
    const fresh = () => ['token', 'abcdefghijklmnop'].join('.')
    memo(fresh())
    memo(fresh())
    computed.length = 0
    assert.equal(memo(fresh()), 'TOKEN.ABCDEFGHIJKLMNOP')
    assert.deepEqual(computed, [])
  })

  it('never gives an input the answer of another that ends in the same characters', () => {
    const { memo } = counted(4)
    // A forged credential that copies a remembered one's last characters gets its own answer.
    const [victim, forged] = ['victim.payload.SIGNATURE-tail', 'forged.payload.SIGNATURE-tail']
    for (const next of [victim, victim, victim, forged, forged, victim, forged]) assert.equal(memo(next), next.toUpperCase())
  })

  it('answers each input for itself when two share a fingerprint', () => {
    const { memo } = counted(4)
    const [p, q] = ['p-same-tail-abcd', 'q-same-tail-abcd']
    assert.deepEqual([p, q, q, p].map(memo), ['P-SAME-TAIL-ABCD', 'Q-SAME-TAIL-ABCD', 'Q-SAME-TAIL-ABCD', 'P-SAME-TAIL-ABCD'])
  })
})
