import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadOrCreateAssertionKeys, rotateAssertionKeys } from '../../src/forward/assertion-keys.ts'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']

let dir: string
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-keys-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

for (const algorithm of ['EdDSA', 'ES256'] as const) {
  describe(`assertion keys (${algorithm})`, () => {
    it('generates, persists with mode 0600 and reloads the same key', async () => {
      const keyFile = path.join(dir, `${algorithm}-persist`, 'keys.json')
      const first = await loadOrCreateAssertionKeys({ algorithm, keyFile })
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
      const stored = JSON.parse(await readFile(keyFile, 'utf8'))
      assert.equal(stored.keys.length, 1)
      assert.equal(stored.keys[0].kid, first.current.kid)
      assert.equal(stored.keys[0].alg, algorithm)
      assert.ok(Date.parse(stored.keys[0].createdAt) > 0)

      const again = await loadOrCreateAssertionKeys({ algorithm, keyFile })
      assert.equal(again.current.kid, first.current.kid)
      assert.match(first.current.kid, /^[A-Za-z0-9_-]{43}$/)
      assert.equal(first.current.privateKey.type, 'private')
    })

    it('publishes only public members', async () => {
      const keyFile = path.join(dir, `${algorithm}-public.json`)
      const keys = await loadOrCreateAssertionKeys({ algorithm, keyFile })
      const [jwk, ...rest] = keys.jwks().keys
      assert.equal(rest.length, 0)
      assert.equal(jwk!.kid, keys.current.kid)
      assert.equal(jwk!.alg, algorithm)
      assert.equal(jwk!.use, 'sig')
      const expected = algorithm === 'EdDSA' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']
      assert.deepEqual(Object.keys(jwk!).sort(), expected)
      const json = JSON.stringify(keys.jwks())
      for (const member of PRIVATE_MEMBERS) assert.ok(!json.includes(`"${member}":`), `JWKS leaks ${member}`)
    })

    it('rotates: signs with the new key, keeps the previous one published', async () => {
      const keyFile = path.join(dir, `${algorithm}-rotate.json`)
      const original = await loadOrCreateAssertionKeys({ algorithm, keyFile })
      const rotated = await rotateAssertionKeys(keyFile, algorithm)
      assert.notEqual(rotated.current.kid, original.current.kid)
      assert.deepEqual(
        rotated.jwks().keys.map((k) => k.kid),
        [rotated.current.kid, original.current.kid],
      )

      const reloaded = await loadOrCreateAssertionKeys({ algorithm, keyFile })
      assert.equal(reloaded.current.kid, rotated.current.kid)
      assert.deepEqual(
        reloaded.jwks().keys.map((k) => k.kid),
        [rotated.current.kid, original.current.kid],
      )
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)

      const twice = await rotateAssertionKeys(keyFile, algorithm)
      assert.deepEqual(
        twice.jwks().keys.map((k) => k.kid),
        [twice.current.kid, rotated.current.kid],
      )
    })
  })
}

describe('assertion keys (files)', () => {
  it('creates the key file 0600 and a missing folder 0700, even under a permissive umask, and keeps 0600 across a rotation', async () => {
    const keyFile = path.join(dir, 'umask', 'nested', 'keys.json')
    const previous = process.umask(0)
    try {
      await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
      assert.equal((await stat(path.dirname(keyFile))).mode & 0o777, 0o700)
      assert.equal((await stat(path.join(dir, 'umask'))).mode & 0o777, 0o700)
      await rotateAssertionKeys(keyFile, 'EdDSA')
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
    } finally {
      process.umask(previous)
    }
  })

  it('refuses a file whose current key has another algorithm, and rotation switches it', async () => {
    const keyFile = path.join(dir, 'switch.json')
    const ed = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    // A key file of a gatehouse from before ES256 became the default, started with the default config.
    await assert.rejects(loadOrCreateAssertionKeys({ algorithm: 'ES256', keyFile }), (err: Error) => {
      assert.match(err.message, /the current assertion key is EdDSA but the configured algorithm is ES256 \(the default since/)
      assert.match(err.message, /Set identity\.assertion\.algorithm: EdDSA to keep signing with this key, or remove the file/)
      return true
    })
    const edAgain = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    assert.equal(edAgain.current.kid, ed.current.kid, 'the refused start changed nothing')
    const es = await rotateAssertionKeys(keyFile, 'ES256')
    assert.deepEqual(
      es.jwks().keys.map((k) => [k.alg, k.kid]),
      [
        ['ES256', es.current.kid],
        ['EdDSA', ed.current.kid],
      ],
    )
  })

  it('refuses a kid that is not the key thumbprint', async () => {
    const keyFile = path.join(dir, 'tampered.json')
    await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    const stored = JSON.parse(await readFile(keyFile, 'utf8'))
    stored.keys[0].kid = 'someone-else'
    await writeFile(keyFile, JSON.stringify(stored))
    await assert.rejects(loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile }), /does not match its key/)
  })

  it('refuses a file without a private key', async () => {
    const keyFile = path.join(dir, 'public-only.json')
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })
    const stored = JSON.parse(await readFile(keyFile, 'utf8'))
    delete stored.keys[0].privateJwk.d
    await writeFile(keyFile, JSON.stringify(stored))
    await assert.rejects(
      loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile }),
      new RegExp(`key ${keys.current.kid} is not a private EdDSA key`),
    )
  })

  it('refuses a malformed file', async () => {
    const keyFile = path.join(dir, 'malformed.json')
    await writeFile(keyFile, '{"keys": []}')
    await assert.rejects(loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile }), /expected \{ "keys"/)
    await writeFile(keyFile, 'not json')
    await assert.rejects(loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile }), /not JSON/)
  })

  it('agrees on one key when several processes create the file at once', async () => {
    const keyFile = path.join(dir, 'race.json')
    const all = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateAssertionKeys({ algorithm: 'EdDSA', keyFile })))
    assert.equal(new Set(all.map((k) => k.current.kid)).size, 1)
  })
})

describe('assertion keys (HS256)', () => {
  const secret = 'a shared secret of at least thirty-two bytes'

  it('uses the secret, writes no file and publishes nothing', async () => {
    const keyFile = path.join(dir, 'never-written.json')
    const keys = await loadOrCreateAssertionKeys({ algorithm: 'HS256', keyFile, secret })
    assert.match(keys.current.kid, /^[0-9a-f]{16}$/)
    assert.equal(keys.current.publicJwk, undefined)
    assert.deepEqual(keys.jwks(), { keys: [] })
    await assert.rejects(stat(keyFile), { code: 'ENOENT' })
  })

  it('needs a secret', async () => {
    await assert.rejects(loadOrCreateAssertionKeys({ algorithm: 'HS256', keyFile: path.join(dir, 'x.json') }), /shared secret/)
  })
})
