import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isReservedPath } from '../../src/rules/index.ts'

describe('the reserved /.gatehouse/ prefix', () => {
  it('covers the first segment .gatehouse in any letter case, and nothing that merely starts alike', () => {
    for (const path of ['/.gatehouse', '/.gatehouse/', '/.gatehouse/auth', '/.GATEHOUSE/auth/x', '/.GateHouse/other']) {
      assert.equal(isReservedPath(path), true, path)
    }
    for (const path of ['/', '/gatehouse/auth', '/.gatehousex/auth', '/.gatehous', '/x/.gatehouse/auth', '/.well-known/x']) {
      assert.equal(isReservedPath(path), false, path)
    }
  })
})
