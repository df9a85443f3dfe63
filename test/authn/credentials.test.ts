import assert from 'node:assert/strict'
import { test } from 'node:test'
import { extractCredential } from '../../src/authn/index.ts'
import type { Credential } from '../../src/authn/index.ts'
import { ProblemError } from '../../src/http/index.ts'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJl'
const UNSIGNED_JWT = 'eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoiMSJ9.'
const KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'

test('extractCredential finds the one credential', () => {
  const cases: [string | undefined, string | undefined, Credential][] = [
    [undefined, undefined, { kind: 'none' }],
    ['', undefined, { kind: 'none' }],
    [undefined, '', { kind: 'none' }],
    [`Bearer ${JWT}`, undefined, { kind: 'token', token: JWT }],
    [`bearer ${JWT}`, undefined, { kind: 'token', token: JWT }],
    [`BEARER ${JWT}`, undefined, { kind: 'token', token: JWT }],
    // Recognised as a token so that the JWT verifier, not the API-key path, rejects it.
    [`Bearer ${UNSIGNED_JWT}`, undefined, { kind: 'token', token: UNSIGNED_JWT }],
    [`Bearer ${KEY}`, undefined, { kind: 'api_key', key: KEY }],
    ['Bearer a.b', undefined, { kind: 'api_key', key: 'a.b' }],
    ['Bearer a.b.c.d', undefined, { kind: 'api_key', key: 'a.b.c.d' }],
    ['Bearer a+b.c/d.e', undefined, { kind: 'api_key', key: 'a+b.c/d.e' }],
    [undefined, KEY, { kind: 'api_key', key: KEY }],
    [undefined, JWT, { kind: 'api_key', key: JWT }],
    [`Bearer ${KEY}`, KEY, { kind: 'api_key', key: KEY }],
    [`Bearer ${JWT}`, JWT, { kind: 'token', token: JWT }],
    [`Bearer ${JWT}`, '', { kind: 'token', token: JWT }],
  ]
  for (const [authorization, xApiKey, expected] of cases) {
    assert.deepEqual(extractCredential(authorization, xApiKey), expected, `${authorization} / ${xApiKey}`)
  }
})

test('extractCredential refuses two different credentials with 400', () => {
  for (const [authorization, xApiKey] of [
    [`Bearer ${JWT}`, KEY],
    [`Bearer ${KEY}`, `${KEY}0`],
  ] as const) {
    assert.throws(
      () => extractCredential(authorization, xApiKey),
      (error: unknown) =>
        error instanceof ProblemError && error.status === 400 && error.problem.detail === 'Two different credentials were sent; send one',
    )
  }
})

test('extractCredential refuses a malformed Authorization header with 401', () => {
  const malformed = [
    'Bearer',
    'Bearer ',
    `Bearer  ${JWT}`,
    `Bearer ${JWT} extra`,
    `Bearer ${JWT} `,
    `Basic ${Buffer.from('user:pass').toString('base64')}`,
    `Token ${KEY}`,
    JWT,
    `Bearer\t${JWT}`,
  ]
  for (const authorization of malformed) {
    for (const xApiKey of [undefined, KEY]) {
      assert.throws(
        () => extractCredential(authorization, xApiKey),
        (error: unknown) =>
          error instanceof ProblemError &&
          error.status === 401 &&
          error.problem.detail === 'Invalid authorization header. Expected: Bearer {accessToken}',
        authorization,
      )
    }
  }
})
