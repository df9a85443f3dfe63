import { createHash, createPrivateKey, createSecretKey } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import type { JSONWebKeySet, JWK } from 'jose'
import { deepFreeze } from '../identity/index.ts'
import { createAssertionKeyFile, readAssertionKeyFile, replaceAssertionKeyFile } from './assertion-keys-file.ts'
import type { AssertionKeyFile, StoredAssertionKey } from './assertion-keys-file.ts'

export type AssertionAlgorithm = 'EdDSA' | 'ES256' | 'HS256'
type KeyPairAlgorithm = Exclude<AssertionAlgorithm, 'HS256'>

/** The key that signs assertions. */
export type AssertionKey = {
  kid: string
  alg: AssertionAlgorithm
  /**
   * A node:crypto key (the private key, or for HS256 the shared secret): signing goes through
   * node:crypto synchronously, several times cheaper than WebCrypto for a cache miss.
   */
  privateKey: KeyObject
  /** Public members, `kid`, `alg` and `use`; undefined for a shared secret, which is never published. */
  publicJwk: JWK | undefined
}

export type AssertionKeys = {
  current: AssertionKey
  /**
   * What `/.well-known/jwks.json` serves: the current key first, then every other key of the file
   * (the previous one after a rotation), so tokens signed just before a rotation still verify.
   * The same frozen object on every call. Empty for HS256.
   */
  jwks(): JSONWebKeySet
}

type AssertionKeyOptions = {
  algorithm: AssertionAlgorithm
  /** Absolute path of the key file (EdDSA and ES256). */
  keyFile: string
  /** The shared secret (HS256). */
  secret?: string
}

/**
 * The assertion keys for this configuration. EdDSA (Ed25519) and ES256 keys live in `keyFile`,
 * generated on first start; HS256 uses the shared secret and touches no file.
 */
export async function loadOrCreateAssertionKeys(options: AssertionKeyOptions): Promise<AssertionKeys> {
  const { algorithm, keyFile } = options
  if (algorithm === 'HS256') return sharedSecretKeys(options.secret)
  const file = (await readAssertionKeyFile(keyFile)) ?? (await createFirstKey(keyFile, algorithm))
  return keysFromFile(file, algorithm, keyFile)
}

/**
 * Puts a new key first in `keyFile` and keeps the key it replaces, which stays in the JWKS so
 * assertions already issued keep verifying; any older key is dropped. A running gatehouse picks
 * the new key up when it loads the file again.
 */
export async function rotateAssertionKeys(keyFile: string, algorithm: KeyPairAlgorithm): Promise<AssertionKeys> {
  const previous = (await readAssertionKeyFile(keyFile))?.keys[0]
  const file: AssertionKeyFile = { keys: [await generateStoredAssertionKey(algorithm), ...(previous ? [previous] : [])] }
  await replaceAssertionKeyFile(keyFile, file)
  return keysFromFile(file, algorithm, keyFile)
}

/** The file this process created, or the one another process created first. */
async function createFirstKey(keyFile: string, algorithm: KeyPairAlgorithm): Promise<AssertionKeyFile> {
  const fresh: AssertionKeyFile = { keys: [await generateStoredAssertionKey(algorithm)] }
  if (await createAssertionKeyFile(keyFile, fresh)) return fresh
  const theirs = await readAssertionKeyFile(keyFile)
  if (!theirs) throw new Error(`${keyFile}: the assertion key file disappeared while it was being created`)
  return theirs
}

async function generateStoredAssertionKey(alg: KeyPairAlgorithm): Promise<StoredAssertionKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true })
  const privateJwk = await exportJWK(privateKey)
  return { kid: await calculateJwkThumbprint(publicMembers(privateJwk)), alg, privateJwk, createdAt: new Date().toISOString() }
}

async function keysFromFile(file: AssertionKeyFile, algorithm: KeyPairAlgorithm, keyFile: string): Promise<AssertionKeys> {
  const first = file.keys[0]!
  // Never a silent switch: an upstream that pins the old algorithm would refuse every assertion.
  if (first.alg !== algorithm) {
    throw new Error(
      `${keyFile}: the current assertion key is ${first.alg} but the configured algorithm is ${algorithm}` +
        (algorithm === 'ES256' && first.alg === 'EdDSA' ? ' (the default since it replaced EdDSA, which jsonwebtoken cannot verify)' : '') +
        `. Set identity.assertion.algorithm: ${first.alg} to keep signing with this key, or remove the file (or rotate it with` +
        ` rotateAssertionKeys) to sign with a new ${algorithm} key once every upstream accepts ${algorithm}.`,
    )
  }
  const published = await Promise.all(file.keys.map((k) => publishedJwk(k, keyFile)))
  const current: AssertionKey = {
    kid: first.kid,
    alg: first.alg,
    privateKey: importPrivate(first, keyFile),
    publicJwk: published[0],
  }
  const set = deepFreeze({ keys: published })
  return { current, jwks: () => set }
}

function importPrivate(stored: StoredAssertionKey, keyFile: string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: 'jwk' })
  } catch {
    // Fail at start, not on the first request, when the file holds a public or symmetric key.
    throw new Error(`${keyFile}: key ${stored.kid} is not a private ${stored.alg} key`)
  }
  const expected = stored.alg === 'EdDSA' ? 'ed25519' : 'ec'
  if (key.asymmetricKeyType !== expected) throw new Error(`${keyFile}: key ${stored.kid} is not a private ${stored.alg} key`)
  return key
}

// The kid is recomputed rather than trusted so that a hand-edited file cannot publish one key
// under another key's id.
async function publishedJwk(stored: StoredAssertionKey, keyFile: string): Promise<JWK> {
  const pub = publicMembers(stored.privateJwk)
  const kid = await calculateJwkThumbprint(pub)
  if (kid !== stored.kid) {
    throw new Error(`${keyFile}: kid ${stored.kid} does not match its key (RFC 7638 thumbprint ${kid})`)
  }
  return { ...pub, kid, alg: stored.alg, use: 'sig' }
}

// An allow-list, so no private member (d, or anything a future key type adds) can leak.
function publicMembers(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk
  return y === undefined ? { kty, crv, x } : { kty, crv, x, y }
}

function sharedSecretKeys(secret: string | undefined): AssertionKeys {
  if (!secret) throw new Error('the HS256 assertion algorithm needs a shared secret')
  const privateKey = createSecretKey(Buffer.from(secret, 'utf8'))
  const kid = createHash('sha256').update(secret).digest('hex').slice(0, 16)
  const empty = deepFreeze({ keys: [] })
  return { current: { kid, alg: 'HS256', privateKey, publicJwk: undefined }, jwks: () => empty }
}
