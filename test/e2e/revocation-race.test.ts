import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import type { AdminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { createHeldStore } from '../support/held-store.ts'
import type { HeldStore } from '../support/held-store.ts'
import { serviceUrl } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ADMIN_KEY = 'test-admin-key-0123456789'
const TRIALS = 20
const redis = serviceUrl('REDIS')

type Replica = { gateway: TestGateway; held: HeldStore }

/** The one store read of a key lookup: the key with its owner, read together. */
const KEY_LOOKUP = 'findApiKeyWithOwner'

/**
 * One race: `key` is looked up on the racing replica, its lookup holds the store's answer (read
 * before the change), the change is acknowledged, and only then does the lookup go on. `canary`
 * is another key the same change evicts: seeing the racing replica ask the store for it again
 * proves the eviction reached that replica.
 */
type Race = {
  key: string
  canary: string
  change(): Promise<void>
  /** What `key` gets once the change is acknowledged. */
  after: 200 | 401
}

type Scenario = { name: string; setUp(api: AdminClient): Promise<Race> }

async function personalKeys(api: AdminClient): Promise<{ userId: string; key: string; canary: string; keyId: string }> {
  const user = await api('POST', '/v1/users', { email: `${randomBytes(6).toString('hex')}@example.com` })
  const userId = String(user.body.user_id)
  const key = await api('POST', '/v1/api_keys', { user_id: userId })
  const canary = await api('POST', '/v1/api_keys', { user_id: userId })
  assert.equal(key.status, 201)
  return { userId, keyId: String(key.body.api_key_id), key: String(key.body.api_key_token), canary: String(canary.body.api_key_token) }
}

const acknowledged = async (call: Promise<{ status: number }>, status: number) => assert.equal((await call).status, status)

const SCENARIOS: Scenario[] = [
  {
    name: 'key archived while its lookup read it as valid',
    async setUp(api) {
      const { keyId, key, canary } = await personalKeys(api)
      return {
        key,
        canary,
        change: () => acknowledged(api('POST', `/v1/api_keys/${keyId}/archive`, { reason: 'leaked' }), 200),
        after: 401,
      }
    },
  },
  {
    name: 'owner disabled while the lookup read them as enabled',
    async setUp(api) {
      const { userId, key, canary } = await personalKeys(api)
      return { key, canary, change: () => acknowledged(api('POST', `/v1/users/${userId}/disable`), 200), after: 401 }
    },
  },
  {
    name: 'org deleted while the lookup of its org key read it',
    async setUp(api) {
      const org = await api('POST', '/v1/orgs', { name: `race ${randomBytes(4).toString('hex')}` })
      const orgId = String(org.body.org_id)
      const key = await api('POST', '/v1/api_keys', { org_id: orgId })
      const canary = await api('POST', '/v1/api_keys', { org_id: orgId })
      assert.equal(key.status, 201)
      return {
        key: String(key.body.api_key_token),
        canary: String(canary.body.api_key_token),
        change: () => acknowledged(api('DELETE', `/v1/orgs/${orgId}`), 204),
        after: 401,
      }
    },
  },
  {
    name: 'owner enabled again while the lookup read them as disabled (a refusal in flight)',
    async setUp(api) {
      const { userId, key, canary } = await personalKeys(api)
      await acknowledged(api('POST', `/v1/users/${userId}/disable`), 200)
      return { key, canary, change: () => acknowledged(api('POST', `/v1/users/${userId}/enable`), 200), after: 200 }
    },
  },
]

const call = async (gateway: TestGateway, secret: string) => {
  const res = await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': secret } })
  await res.arrayBuffer()
  return res.status
}

/** Runs one race on `racing` with the change made through `admin`'s API; asserts every request after it. */
async function runTrial(scenario: Scenario, racing: Replica, admin: Replica): Promise<void> {
  const api = adminClient(() => admin.gateway.adminUrl, ADMIN_KEY)
  const race = await scenario.setUp(api)
  const before = race.after === 200 ? 401 : 200
  assert.equal(await call(racing.gateway, race.canary), before, 'the canary is cached on the racing replica')
  const hold = racing.held.holdNext(KEY_LOOKUP)
  const inFlight = call(racing.gateway, race.key)
  await hold.reached
  await race.change()
  const canaryLookups = racing.held.lookupsOf(race.canary)
  const deadline = Date.now() + 3000
  while (racing.held.lookupsOf(race.canary) === canaryLookups) {
    assert.ok(Date.now() < deadline, 'the eviction reached the racing replica within 3 s')
    await call(racing.gateway, race.canary)
    await new Promise((r) => setTimeout(r, 5))
  }
  hold.release()
  // Sent before the change, it may get either answer; it must only not be cached.
  assert.ok([200, 401].includes(await inFlight))
  for (let i = 0; i < 5; i++) {
    assert.equal(await call(racing.gateway, race.key), race.after, `request ${i} on the racing replica`)
    assert.equal(await call(admin.gateway, race.key), race.after, `request ${i} on the replica that made the change`)
  }
}

const CONFIG = {
  admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
  api_keys: { cache: { ttl: '30s' } },
  routes: [{ path: '/api/*', auth: 'authenticated' }],
}

describe('a lookup in flight during a revocation never caches what it read (one replica)', () => {
  let upstream: TestUpstream
  let replica: Replica

  before(async () => {
    upstream = await startUpstream()
    const held = createHeldStore()
    replica = { held, gateway: await startGateway({ ...CONFIG, upstream: { url: upstream.url } }, { wrapStore: held.wrap }) }
  })
  after(async () => {
    await replica?.gateway.close()
    await upstream?.close()
  })

  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: ${TRIALS} trials, each asserted`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) await runTrial(scenario, replica, replica)
    })
  }
})

describe(
  'a lookup in flight during a revocation on another replica never caches what it read (two replicas, shared SQLite file, Redis bus)',
  {
    skip: redis.skip,
  },
  () => {
    let upstream: TestUpstream
    let a: Replica
    let b: Replica
    const storeDir = mkdtempSync(join(tmpdir(), 'gatehouse-race-'))

    before(async () => {
      upstream = await startUpstream()
      const config = {
        ...CONFIG,
        upstream: { url: upstream.url },
        store: { url: `sqlite:${join(storeDir, 'shared.db')}` },
        redis: { url: redis.url, key_prefix: `gh-race-${randomBytes(4).toString('hex')}:` },
      }
      const heldA = createHeldStore()
      a = { held: heldA, gateway: await startGateway(config, { wrapStore: heldA.wrap }) }
      const heldB = createHeldStore()
      b = { held: heldB, gateway: await startGateway(config, { wrapStore: heldB.wrap }) }
    })
    after(async () => {
      await a?.gateway.close()
      await b?.gateway.close()
      await upstream?.close()
      rmSync(storeDir, { recursive: true, force: true })
    })

    for (const scenario of SCENARIOS) {
      it(`${scenario.name}, racing on B, changed on A: ${TRIALS} trials, each asserted`, async () => {
        for (let trial = 0; trial < TRIALS; trial++) await runTrial(scenario, b, a)
      })
    }
  },
)
