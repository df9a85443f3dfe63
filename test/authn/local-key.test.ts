import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { exportJWK, SignJWT } from 'jose'
import { createTokenVerifier, InvalidTokenError } from '../../src/authn/index.ts'
import type { IssuerConfig } from '../../src/config/index.ts'
import { createKey, ISSUER, issuerConfig, nowSeconds, pemOf, ROLES, sign } from './fixtures.ts'

const es = await createKey('ES256', 'es-1')
const rs = await createKey('RS256', 'rs-1')

function verifierFor(issuer: Partial<IssuerConfig>, configDir = '.') {
  return createTokenVerifier({
    issuers: [issuerConfig(issuer)],
    leewayMs: 0,
    cache: { maxEntries: 10, ttlMs: 60_000 },
    jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
    roles: ROLES,
    configDir,
  })
}

test('public_key accepts PEM SPKI text and JWK JSON', async () => {
  const pem = await verifierFor({ publicKey: await pemOf(rs), algorithms: ['RS256'] })
  assert.equal((await pem.verify(await sign(rs))).user?.userId, 'user-1')
  assert.equal(pem.ready(), true)
  pem.close()

  const jwk = await verifierFor({ publicKey: JSON.stringify(es.jwk), algorithms: ['ES256'] })
  assert.equal((await jwk.verify(await sign(es))).user?.userId, 'user-1')
  jwk.close()
})

test('public_key_file is read relative to the config folder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-authn-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'rs.pem'), await pemOf(rs))
  writeFileSync(join(dir, 'es.json'), JSON.stringify(es.jwk))

  const pem = await verifierFor({ publicKeyFile: 'rs.pem', algorithms: ['RS256', 'PS256'] }, dir)
  await pem.verify(await sign(rs))
  pem.close()
  const jwk = await verifierFor({ publicKeyFile: join(dir, 'es.json'), algorithms: ['ES256'] }, '/nonexistent')
  await jwk.verify(await sign(es))
  jwk.close()
  await assert.rejects(verifierFor({ publicKeyFile: 'missing.pem' }, dir), /cannot read public_key_file/)
})

test('a token HMAC-signed with the configured RSA public key is rejected', async () => {
  const pem = await pemOf(rs)
  const verifier = await verifierFor({ publicKey: pem, algorithms: ['RS256'] })
  const token = await new SignJWT({ iss: ISSUER, user_id: 'user-1', exp: nowSeconds() + 600 })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(pem))
  await assert.rejects(async () => verifier.verify(token), InvalidTokenError)
  verifier.close()
})

test('a key that cannot serve the pinned algorithms is a configuration error', async () => {
  await assert.rejects(verifierFor({ publicKey: await pemOf(rs), algorithms: ['ES256'] }), /cannot verify ES256 tokens/)
  await assert.rejects(verifierFor({ publicKey: await pemOf(es), algorithms: ['ES256', 'RS256'] }), /cannot verify RS256 tokens/)
  await assert.rejects(verifierFor({ publicKey: JSON.stringify(es.jwk), algorithms: ['ES384'] }), /cannot verify ES384 tokens/)
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  await assert.rejects(verifierFor({ publicKey: weak, algorithms: ['RS256'] }), /1024 bits is too short/)
})

test('secrets, private keys and non-keys are refused as public keys', async () => {
  const privateJwk = await exportJWK(es.privateKey)
  await assert.rejects(verifierFor({ publicKey: JSON.stringify(privateJwk), algorithms: ['ES256'] }), /must be a public key/)
  await assert.rejects(
    verifierFor({ publicKey: JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }), algorithms: ['ES256'] }),
    /must be a public key/,
  )
  await assert.rejects(verifierFor({ publicKey: JSON.stringify({ ...es.jwk, use: 'enc' }), algorithms: ['ES256'] }), /not a signing key/)
  await assert.rejects(verifierFor({ publicKey: 'ssh-rsa AAAA', algorithms: ['RS256'] }), /PEM public key/)
  await assert.rejects(verifierFor({ publicKey: '{"kty": ', algorithms: ['RS256'] }), /does not parse/)
  const pkcs8 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  await assert.rejects(verifierFor({ publicKey: pkcs8, algorithms: ['ES256'] }), /PEM public key/)
})
