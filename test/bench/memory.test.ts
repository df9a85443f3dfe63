import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { medianRound } from '../../bench/memory.ts'
import type { MemoryPhase } from '../../bench/memory.ts'

const round = (end: number, elapsedS: number): MemoryPhase => ({
  identities: 100_000,
  elapsedS,
  rssMB: { start: 120, end, peak: end + 10 },
})

describe('medianRound', () => {
  it('reports the round with the median end RSS, whole, with every round’s end in order', () => {
    const median = medianRound([round(444.8, 46), round(223.4, 25), round(238.5, 26)])
    assert.deepEqual(median, { ...round(238.5, 26), endEachRoundMB: [444.8, 223.4, 238.5] })
  })

  it('takes the lower middle of an even count and the only round of one', () => {
    assert.equal(medianRound([round(300, 1), round(200, 1)]).rssMB.end, 200)
    assert.deepEqual(medianRound([round(230, 1)]).endEachRoundMB, [230])
  })

  it('refuses no rounds at all', () => {
    assert.throws(() => medianRound([]), /no memory round/)
  })
})
