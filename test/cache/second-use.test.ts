import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSecondUseMap } from '../../src/cache/index.ts'

describe('createSecondUseMap', () => {
  it('only marks an object on its first offer and keeps the value from the second on', () => {
    const map = createSecondUseMap<object, string>()
    const owner = {}
    let made = 0
    const make = (value: string) => () => (made++, value)
    map.offer(owner, make('first'))
    assert.equal(map.get(owner), undefined)
    assert.equal(made, 0, 'the first offer builds nothing')
    map.offer(owner, make('second'))
    assert.equal(map.get(owner), 'second')
    map.offer(owner, make('third'))
    assert.equal(map.get(owner), 'third', 'a later offer replaces what was kept')
    assert.equal(made, 2)
  })

  it('keeps each object apart', () => {
    const map = createSecondUseMap<object, number>()
    const a = {}
    const b = {}
    map.offer(a, () => 1)
    map.offer(a, () => 2)
    map.offer(b, () => 3)
    assert.equal(map.get(a), 2)
    assert.equal(map.get(b), undefined)
  })
})
