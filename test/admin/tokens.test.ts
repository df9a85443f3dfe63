import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { AccessTokenError } from '../../src/issuer/index.ts'
import { assertProblem, harness } from './harness.ts'
import type { Harness } from './harness.ts'

let h: Harness
let user: string
let org: string
beforeEach(async () => {
  h = await harness()
  user = await h.createUser('t@example.com')
  org = await h.createOrg('Acme')
  await h.addMember(org, user, 'Admin')
  h.changes.length = 0
})
afterEach(() => h.close())

const mint = (body: Record<string, unknown>) => h.call<{ access_token: string }>('POST', '/v1/access_tokens', body)

describe('POST /v1/access_tokens', () => {
  it('mints through the issuer and answers {access_token}', async () => {
    const reply = await mint({ user_id: user, duration_in_minutes: 30 })
    assert.equal(reply.status, 200)
    assert.deepEqual(reply.body, { access_token: `token:${user}:30:-` })
    assert.deepEqual(h.minted, [{ userId: user, durationMinutes: 30, activeOrgId: undefined }])
    assert.deepEqual(h.changes, [], 'minting writes nothing')
  })

  it('passes active_org_id on when the user belongs to the org', async () => {
    const reply = await mint({ user_id: user, duration_in_minutes: 525_600, active_org_id: org })
    assert.deepEqual(reply.body, { access_token: `token:${user}:525600:${org}` })
    assert.deepEqual(h.minted, [{ userId: user, durationMinutes: 525_600, activeOrgId: org }])
  })

  it('answers 400 naming active_org_id for an org the user is not in, or no org at all', async () => {
    const other = await h.createOrg('Other')
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5, active_org_id: other }), 400, 'active_org_id')
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5, active_org_id: 'no-such-org' }), 400, 'active_org_id')
    assert.deepEqual(h.minted, [])
  })

  for (const [duration, why] of [
    [0, 'zero'],
    [525_601, 'over a year'],
    [1.5, 'fractional'],
    ['30', 'a string'],
    [undefined, 'missing'],
  ] as const) {
    it(`answers 400 naming duration_in_minutes when it is ${why}`, async () => {
      assertProblem(await mint({ user_id: user, duration_in_minutes: duration }), 400, 'duration_in_minutes')
      assert.deepEqual(h.minted, [])
    })
  }

  it('answers 400 for a missing user_id or an unknown field', async () => {
    assertProblem(await mint({ duration_in_minutes: 5 }), 400, 'user_id')
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5, scope: 'all' }), 400, 'scope')
  })

  it('answers 404 for an unknown, disabled or deleted user, without calling the issuer', async () => {
    assertProblem(await mint({ user_id: 'no-such-user', duration_in_minutes: 5 }), 404)
    assert.equal((await h.call('POST', `/v1/users/${user}/disable`)).status, 200)
    const disabled = await mint({ user_id: user, duration_in_minutes: 5 })
    assertProblem(disabled, 404)
    assert.match(disabled.body.detail ?? '', /disabled/)
    assert.equal((await h.call('POST', `/v1/users/${user}/enable`)).status, 200)
    assert.equal((await mint({ user_id: user, duration_in_minutes: 5 })).status, 200)
    assert.equal((await h.call('DELETE', `/v1/users/${user}`)).status, 204)
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5 }), 404)
    assert.equal(h.minted.length, 1)
  })

  it("answers the issuer's AccessTokenError with its status and field", async () => {
    h.mintFailure.error = new AccessTokenError(404, 'user vanished')
    const gone = await mint({ user_id: user, duration_in_minutes: 5 })
    assertProblem(gone, 404)
    assert.equal(gone.body.detail, 'user vanished')
    h.mintFailure.error = new AccessTokenError(400, 'no longer usable')
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5 }), 400, 'user_id')
    h.mintFailure.error = new AccessTokenError(400, 'left the org', 'active_org_id')
    assertProblem(await mint({ user_id: user, duration_in_minutes: 5, active_org_id: org }), 400, 'active_org_id')
  })

  it("answers any other issuer failure with a 500 that does not repeat the issuer's message", async () => {
    h.mintFailure.error = new Error('signing key /secret/path unreadable')
    const reply = await mint({ user_id: user, duration_in_minutes: 5 })
    assertProblem(reply, 500)
    assert.ok(!reply.text.includes('/secret/path'))
  })

  it('answers 404 when gatehouse has no token issuer', async () => {
    const bare = await harness({ tokens: undefined })
    try {
      const id = await bare.createUser('x@example.com')
      const reply = await bare.call('POST', '/v1/access_tokens', { user_id: id, duration_in_minutes: 5 })
      assertProblem(reply, 404)
      assert.match(reply.body.detail ?? '', /tokens\.local_issuer/)
    } finally {
      await bare.close()
    }
  })
})
