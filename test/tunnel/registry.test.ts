import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Identity } from '../../src/identity/index.ts'
import { callerOf, createTunnelRegistry } from '../../src/tunnel/index.ts'
import type { OpenTunnel } from '../../src/tunnel/index.ts'

const userToken: Identity = { principal: 'user', method: 'token', user: { userId: 'u1', properties: {} }, orgs: {} }
const personalKey: Identity = {
  principal: 'user',
  method: 'api_key',
  user: { userId: 'u2', properties: {} },
  orgs: {},
  apiKey: { id: 'k2', type: 'personal', scopes: [], metadata: {}, expiresAt: null },
}
const orgKey: Identity = {
  principal: 'org',
  method: 'api_key',
  orgs: {},
  org: { orgId: 'o1', orgName: 'One' },
  apiKey: { id: 'k3', type: 'org', scopes: [], metadata: {}, expiresAt: null },
}
const serviceKey: Identity = {
  principal: 'service',
  method: 'api_key',
  orgs: {},
  apiKey: { id: 'k4', type: 'generic', scopes: [], metadata: {}, expiresAt: null },
}

function tunnel(identity: Identity | undefined, caller = callerOf(identity, '10.0.0.1')): OpenTunnel & { closed: string[] } {
  const closed: string[] = []
  return { identity, caller, closed, close: (why) => void closed.push(why) }
}

describe('tunnel registry', () => {
  it('counts tunnels per caller against the cap and frees a slot on release', () => {
    const registry = createTunnelRegistry(2)
    const [a, b, c] = [tunnel(userToken), tunnel(userToken), tunnel(userToken)]
    assert.ok(registry.open(a))
    assert.ok(registry.open(b))
    assert.equal(registry.open(c), false)
    assert.ok(registry.open(tunnel(personalKey)), 'another caller has its own count')
    registry.release(a)
    registry.release(a)
    assert.ok(registry.open(c))
    assert.equal(registry.size, 3)
  })

  it('keys callers by user, org key, service key, else client address', () => {
    assert.equal(callerOf(userToken, '1.2.3.4'), 'user:u1')
    assert.equal(callerOf(personalKey, '1.2.3.4'), 'user:u2')
    assert.equal(callerOf(orgKey, '1.2.3.4'), 'org:o1')
    assert.equal(callerOf(serviceKey, '1.2.3.4'), 'key:k4')
    assert.equal(callerOf(undefined, '1.2.3.4'), 'ip:1.2.3.4')
  })

  it('closes the tunnels a change names, as the caches evict them, and no others', () => {
    const registry = createTunnelRegistry(undefined)
    const all = [tunnel(userToken), tunnel(personalKey), tunnel(orgKey), tunnel(serviceKey), tunnel(undefined)]
    for (const t of all) registry.open(t)
    const closedBy = (change: Parameters<typeof registry.revoke>[0]) => {
      for (const t of all) t.closed.length = 0
      registry.revoke(change)
      return all.flatMap((t, i) => (t.closed.length > 0 ? [i] : []))
    }
    assert.deepEqual(closedBy({ kind: 'user', userId: 'u1' }), [0])
    assert.deepEqual(closedBy({ kind: 'api_key', apiKeyId: 'k2', userId: 'u2' }), [1])
    assert.deepEqual(closedBy({ kind: 'api_key', apiKeyId: 'k4' }), [3])
    assert.deepEqual(closedBy({ kind: 'org', orgId: 'o1' }), [2])
    assert.deepEqual(closedBy({ kind: 'membership', orgId: 'o1', userId: 'u9' }), [2], 'the org key’s creator may have left')
    assert.deepEqual(closedBy({ kind: 'user', userId: 'u9' }), [])
  })

  it('tells a handshake decided across a change that names its identity', () => {
    const registry = createTunnelRegistry(undefined)
    const heard = registry.changesHeard()
    assert.equal(registry.revokedSince(heard, userToken), false)
    registry.revoke({ kind: 'user', userId: 'someone-else' })
    assert.equal(registry.revokedSince(heard, userToken), false)
    registry.revoke({ kind: 'user', userId: 'u1' })
    assert.equal(registry.revokedSince(heard, userToken), true)
    assert.equal(registry.revokedSince(registry.changesHeard(), userToken), false)
    // More changes than are remembered: too many to tell, so decided again.
    const long = registry.changesHeard()
    for (let i = 0; i < 300; i++) registry.revoke({ kind: 'user', userId: `x${i}` })
    assert.equal(registry.revokedSince(long, serviceKey), true)
  })

  it('closes every tunnel for a shutdown and refuses new ones', () => {
    const registry = createTunnelRegistry(undefined)
    const open = tunnel(userToken)
    registry.open(open)
    registry.closeAll()
    assert.deepEqual(open.closed, ['shutdown'])
    assert.equal(registry.closing, true)
    assert.equal(registry.open(tunnel(serviceKey)), false)
  })
})
