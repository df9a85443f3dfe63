import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isForwardAuthPath } from '../../src/forward-auth/index.ts'

describe('the forward-auth endpoint path', () => {
  it('names the forward-auth endpoint and the paths under it, nothing beside it', () => {
    for (const path of ['/.gatehouse/auth', '/.GATEHOUSE/Auth', '/.gatehouse/auth/', '/.gatehouse/auth/api/x']) {
      assert.equal(isForwardAuthPath(path), true, path)
    }
    for (const path of ['/.gatehouse/authx', '/.gatehouse/', '/.gatehouse/other/auth', '/auth'])
      assert.equal(isForwardAuthPath(path), false, path)
  })
})
