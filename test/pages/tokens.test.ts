import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import type { Session } from '../../src/decide/index.ts'
import { createCsrfTokens } from '../../src/pages/csrf.ts'
import { createOneTimeSecrets, ONE_TIME_COOKIE } from '../../src/pages/one-time-secret.ts'
import { pageEndpointOf } from '../../src/pages/paths.ts'

const session = (userId: string, token: string): Session => ({
  identity: { principal: 'user', method: 'token', user: { userId, properties: {} }, orgs: {} },
  token,
})

describe('CSRF tokens', () => {
  const csrf = createCsrfTokens(randomBytes(32))

  it("match their own session only: not another user's, not a new sign-in's, not another secret's", () => {
    const ada = session('ada', 'token-1')
    const token = csrf.tokenFor(ada)
    assert.ok(csrf.matches(ada, token))
    assert.ok(!csrf.matches(session('bob', 'token-1'), token))
    assert.ok(!csrf.matches(session('ada', 'token-2'), token))
    assert.ok(!createCsrfTokens(randomBytes(32)).matches(ada, token))
    assert.ok(!csrf.matches(ada, undefined))
    assert.ok(!csrf.matches(ada, token.slice(1)), 'a shorter string is refused, not compared')
  })
})

describe('the one-time secret cookie', () => {
  const secrets = createOneTimeSecrets(randomBytes(32))
  const created = { apiKeyId: 'k1', secret: 'gtu_secret' }
  const header = (setCookie: string) => `other=1; ${setCookie.split(';', 1)[0]!}`

  it('opens for its user before it expires, and never for another user, later, tampered with or under another key', () => {
    const cookie = secrets.cookie('ada', created, 1000)
    assert.ok(!cookie.includes('gtu_secret'))
    assert.deepEqual(secrets.read(header(cookie), 'ada', 1100), created)
    assert.equal(secrets.read(header(cookie), 'bob', 1100), undefined)
    assert.equal(secrets.read(header(cookie), 'ada', 1121), undefined)
    const value = cookie.split(';', 1)[0]!.slice(ONE_TIME_COOKIE.length + 1)
    const flipped = `${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`
    assert.equal(secrets.read(`${ONE_TIME_COOKIE}=${flipped}`, 'ada', 1100), undefined)
    assert.equal(createOneTimeSecrets(randomBytes(32)).read(header(cookie), 'ada', 1100), undefined)
    assert.equal(secrets.read(undefined, 'ada', 1100), undefined)
  })
})

describe('page endpoints', () => {
  it('are matched on the canonical path in any letter case; an invitation only by GET and HEAD, its secret as sent', () => {
    assert.deepEqual(pageEndpointOf('GET', '/.GateHouse/Account'), { kind: 'account' })
    assert.deepEqual(pageEndpointOf('POST', '/.gatehouse/account/keys/archive'), { kind: 'archive-key' })
    assert.deepEqual(pageEndpointOf('GET', '/.gatehouse/invite/AbC_1-x'), { kind: 'invite', secret: 'AbC_1-x' })
    assert.equal(pageEndpointOf('POST', '/.gatehouse/invite/AbC_1-x'), undefined, 'accepting is the accounts door’s')
    assert.equal(pageEndpointOf('GET', '/.gatehouse/invite/a.b'), undefined)
    assert.equal(pageEndpointOf('GET', '/.gatehouse/accounts'), undefined)
  })
})
