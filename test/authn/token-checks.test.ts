import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidTokenError } from '../../src/authn/index.ts'
import { checkAccessToken, checkIssuedAt } from '../../src/authn/token-checks.ts'

const NOW = 1_700_000_000

test('iat beyond the leeway in the future is refused; within it, in the past, or absent it passes', () => {
  assert.throws(
    () => checkIssuedAt({ iat: NOW + 61 }, NOW, 60),
    (error: InvalidTokenError) => {
      assert.ok(error instanceof InvalidTokenError)
      assert.equal(error.status, 401)
      assert.match(error.reason, /iat is 61 s in the future/)
      return true
    },
  )
  for (const payload of [{ iat: NOW + 60 }, { iat: NOW + 59.5 }, { iat: NOW }, { iat: NOW - 86_400 }, {}]) {
    checkIssuedAt(payload, NOW, 60)
  }
  assert.throws(() => checkIssuedAt({ iat: NOW + 1 }, NOW, 0), InvalidTokenError)
})

test('token_type access accepts at+jwt, application/at+jwt and JWT in any case', () => {
  for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/At+JWT', 'JWT', 'jwt', 'application/jwt']) {
    checkAccessToken({ alg: 'ES256', typ }, {})
  }
})

test('token_type access refuses another typ, a missing typ, and a nonce claim', () => {
  for (const typ of ['id+jwt', 'JOSE', 'at+jwt ', 'application/id+jwt', 'logout+jwt', '']) {
    assert.throws(
      () => checkAccessToken({ alg: 'ES256', typ }, {}),
      (error: InvalidTokenError) => /not an access token type/.test(error.reason),
      typ,
    )
  }
  assert.throws(
    () => checkAccessToken({ alg: 'ES256' }, {}),
    (error: InvalidTokenError) => /typ \(absent\)/.test(error.reason),
  )
  assert.throws(
    () => checkAccessToken({ alg: 'ES256', typ: 'x'.repeat(1000) }, {}),
    (error: InvalidTokenError) => error.reason.length < 200,
  )
  for (const nonce of ['n-0S6_WzA2Mj', '', null]) {
    assert.throws(
      () => checkAccessToken({ alg: 'ES256', typ: 'JWT' }, { nonce }),
      (error: InvalidTokenError) => error instanceof InvalidTokenError && /nonce/.test(error.reason),
    )
  }
})
