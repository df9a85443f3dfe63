import assert from 'node:assert/strict'
import nodeCrypto, { createHmac, KeyObject, sign as signBytes, webcrypto } from 'node:crypto'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { exportJWK, exportSPKI, generateKeyPair, jwtVerify } from 'jose'
import type { CryptoKey, JWK, JWTVerifyGetKey, JWTVerifyOptions } from 'jose'
import { createJwksSource } from '../../src/authn/index.ts'
import { createJwtVerifier } from '../../src/authn/jwt-verifier.ts'
import { loadLocalKey } from '../../src/authn/local-key.ts'
import { TOKEN_ALGORITHMS } from '../../src/config/index.ts'
import type { TokenAlgorithm } from '../../src/config/index.ts'
import { ISSUER, nowSeconds, startJwksServer } from './fixtures.ts'

/**
 * The fast path against jose's jwtVerify on one corpus per algorithm: the same accept or reject,
 * for accepts the same payload and protected header, for rejects the same error class, code,
 * message, and for claims errors the same claim and reason. Each case runs through both with the
 * same key function and options.
 */

type Keys = { privateKey: KeyObject; publicKey: CryptoKey; pem: string; jwk: JWK }

async function keysFor(alg: TokenAlgorithm): Promise<Keys> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { privateKey: KeyObject.from(privateKey), publicKey, pem: await exportSPKI(publicKey), jwk: await exportJWK(publicKey) }
}

const b64u = (bytes: string | Uint8Array) => Buffer.from(bytes).toString('base64url')

function signParams(alg: TokenAlgorithm, key: KeyObject, dsaEncoding: 'der' | 'ieee-p1363' = 'ieee-p1363') {
  const bits = alg === 'EdDSA' ? 0 : Number(alg.slice(2))
  const digest = alg === 'EdDSA' ? null : `sha${bits}`
  if (alg.startsWith('PS')) return { digest, key: { key, padding: 6, saltLength: bits / 8 } }
  return { digest, key: { key, dsaEncoding } }
}

/** A compact JWS over exactly these header and payload texts (no JSON re-encoding). */
type Part = object | string | Buffer

function signRaw(alg: TokenAlgorithm, key: KeyObject, header: Part, payload: Part, dsaEncoding?: 'der' | 'ieee-p1363'): string {
  const text = (value: Part) => (typeof value === 'string' || value instanceof Buffer ? value : JSON.stringify(value))
  const input = `${b64u(text(header))}.${b64u(text(payload))}`
  const { digest, key: params } = signParams(alg, key, dsaEncoding)
  return `${input}.${b64u(signBytes(digest, Buffer.from(input), params))}`
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, aud: 'api', user_id: 'user-1', iat: nowSeconds(), exp: nowSeconds() + 600, ...extra }
}

const CURVE_ORDERS: Partial<Record<TokenAlgorithm, bigint>> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512:
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
}

/** The same signature with s replaced by n − s: also valid for plain ECDSA, refused by low-S rules. */
function highS(token: string, order: bigint): string {
  const [header, payload, signature] = token.split('.')
  const bytes = Buffer.from(signature!, 'base64url')
  const half = bytes.length / 2
  const s = BigInt(`0x${bytes.subarray(half).toString('hex')}`)
  const flipped = Buffer.from((order - s).toString(16).padStart(half * 2, '0'), 'hex')
  return `${header}.${payload}.${b64u(Buffer.concat([bytes.subarray(0, half), flipped]))}`
}

function tamper(token: string, part: 0 | 1 | 2): string {
  const parts = token.split('.')
  const bytes = Buffer.from(parts[part]!, 'base64url')
  bytes[Math.floor(bytes.length / 2)]! ^= 1
  parts[part] = b64u(bytes)
  return parts.join('.')
}

const otherAlg = (alg: TokenAlgorithm): TokenAlgorithm => (alg.startsWith('ES') ? 'RS256' : 'ES256')

/** Every case's token for an issuer whose key is `keys` and who pins only `alg`. */
async function corpus(alg: TokenAlgorithm, keys: Keys): Promise<Record<string, string>> {
  const sign = (header: Part, payload: Part = claims()) => signRaw(alg, keys.privateKey, header, payload)
  const valid = sign({ alg, typ: 'JWT', kid: 'k1' })
  const wrongKey = (await keysFor(alg)).privateKey
  const other = otherAlg(alg)
  const otherKey = (await keysFor(other)).privateKey
  const hmac = (secret: string) => {
    const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(JSON.stringify(claims()))}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const [h, p, s] = valid.split('.') as [string, string, string]
  const cases: Record<string, string> = {
    valid,
    'valid, header of alg only': sign({ alg }),
    'valid, extra header parameters': sign({ alg, typ: 'at+jwt', kid: 'k1', x5t: 'abc', nested: { a: [1] } }),
    'valid, string aud in an array': sign({ alg }, claims({ aud: ['other', 'api'] })),
    'valid, header with a BOM': sign(`\uFEFF${JSON.stringify({ alg })}`),
    'valid, iat in the future (jose does not compare it)': sign({ alg }, claims({ iat: nowSeconds() + 3600 })),
    'alg none': `${b64u(JSON.stringify({ alg: 'none' }))}.${p}.`,
    'alg none with the signature kept': `${b64u(JSON.stringify({ alg: 'none' }))}.${p}.${s}`,
    'HS256 with the PEM as secret': hmac(keys.pem),
    'HS256 with the JWK as secret': hmac(JSON.stringify(keys.jwk)),
    'wrong key': signRaw(alg, wrongKey, { alg }, claims()),
    'key of another type, its own alg': signRaw(other, otherKey, { alg: other }, claims()),
    'key of another type, this alg': `${b64u(JSON.stringify({ alg }))}.${p}.${signRaw(other, otherKey, { alg }, claims()).split('.')[2]}`,
    'alg in another letter case': sign({ alg: alg.toLowerCase() }),
    'alg missing': sign({ typ: 'JWT' }),
    'alg not a string': sign({ alg: [alg] }),
    'tampered header': tamper(valid, 0),
    'tampered payload': tamper(valid, 1),
    'tampered signature': tamper(valid, 2),
    'signature truncated by a byte': `${h}.${p}.${b64u(Buffer.from(s, 'base64url').subarray(0, -1))}`,
    // Compared only: OpenSSL, under either path, takes an RSA signature whose leading zero byte is
    // dropped (one token in 256) as the same number.
    'first byte of the signature dropped': `${h}.${p}.${b64u(Buffer.from(s, 'base64url').subarray(1))}`,
    'signature extended by a byte': `${h}.${p}.${b64u(Buffer.concat([Buffer.from(s, 'base64url'), Buffer.from([0])]))}`,
    'signature truncated to one character too many': `${h}.${p}.${s}A`,
    'signature empty': `${h}.${p}.`,
    'header swapped for another alg': `${b64u(JSON.stringify({ alg: other }))}.${p}.${s}`,
    expired: sign({ alg }, claims({ exp: nowSeconds() - 3600 })),
    'expired within the leeway': sign({ alg }, claims({ exp: nowSeconds() - 10 })),
    'nbf in the future': sign({ alg }, claims({ nbf: nowSeconds() + 3600 })),
    'nbf not a number': sign({ alg }, claims({ nbf: 'soon' })),
    'exp not a number': sign({ alg }, claims({ exp: String(nowSeconds() + 600) })),
    'iat not a number': sign({ alg }, claims({ iat: 'now' })),
    'wrong iss': sign({ alg }, claims({ iss: 'https://evil.example.com' })),
    'iss missing': sign({ alg }, claims({ iss: undefined })),
    'wrong aud': sign({ alg }, claims({ aud: 'other' })),
    'aud missing': sign({ alg }, claims({ aud: undefined })),
    'exp missing': sign({ alg }, claims({ exp: undefined })),
    'crit with an unknown extension': sign({ alg, crit: ['urn:x'], 'urn:x': 1 }),
    'crit b64 false': `${b64u(JSON.stringify({ alg, crit: ['b64'], b64: false }))}.${JSON.stringify(claims())}.${s}`,
    'crit b64 false, signed': signRaw(alg, keys.privateKey, { alg, crit: ['b64'], b64: false }, claims()),
    'b64 false without crit': sign({ alg, b64: false }),
    'crit empty': sign({ alg, crit: [] }),
    'header padded with =': `${h}=.${p}.${s}`,
    'payload with + and /': `${h}.${p.replace(/-/g, '+').replace(/_/g, '/')}+/.${s}`,
    'payload with a space': `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`,
    'payload of 4n+1 characters': `${h}.${p}${'A'.repeat((5 - (p.length % 4)) % 4)}.${s}`,
    'non-ASCII in the payload segment': `${h}.${p}é.${s}`,
    'non-JSON payload, signed': sign({ alg }, 'not json'),
    'JSON array payload, signed': sign({ alg }, '[1,2]'),
    'invalid UTF-8 payload, signed': sign({ alg }, Buffer.from([0x7b, 0xff, 0x7d])),
    'invalid UTF-8 header, signed': sign(Buffer.from([0x7b, 0xff, 0x7d])),
    'non-JSON header, signed': sign('{alg'),
    'JSON array header': sign(`["${alg}"]`),
    'header null': sign('null'),
    'two segments': `${h}.${p}`,
    'four segments': `${valid}.${s}`,
    empty: '',
  }
  if (alg.startsWith('ES')) {
    cases['DER-encoded signature'] = signRaw(alg, keys.privateKey, { alg }, claims(), 'der')
    cases['high-S signature'] = highS(valid, CURVE_ORDERS[alg]!)
  }
  return cases
}

type Outcome =
  | { accepted: true; payload: unknown; protectedHeader: unknown }
  | { accepted: false; error: string; code: unknown; message: string; claim: unknown; reason: unknown }

async function outcome(run: () => Promise<{ payload: unknown; protectedHeader: unknown }>): Promise<Outcome> {
  try {
    const { payload, protectedHeader } = await run()
    return { accepted: true, payload, protectedHeader }
  } catch (error) {
    const { name, code, message, claim, reason } = error as Error & { code?: unknown; claim?: unknown; reason?: unknown }
    return { accepted: false, error: `${(error as object).constructor.name} ${name}`, code, message, claim, reason }
  }
}

/** The WebCrypto and node:crypto verify calls made while `run` runs. */
async function verifyCalls(t: TestContext, run: () => Promise<unknown>): Promise<{ subtle: number; node: number }> {
  const subtle = t.mock.method(webcrypto.subtle, 'verify')
  const node = t.mock.method(nodeCrypto, 'verify')
  try {
    await run()
  } catch {
    // The counts are what is asked for; the outcome is compared separately.
  }
  const calls = { subtle: subtle.mock.callCount(), node: node.mock.callCount() }
  subtle.mock.restore()
  node.mock.restore()
  return calls
}

const MUST_ACCEPT = /^valid/
const MUST_REJECT = /^(alg none|HS256|wrong key|key of another type|tampered|signature|expired$|nbf|wrong|exp missing|crit with)/

const GATEHOUSE_OPTIONS = (alg: TokenAlgorithm): JWTVerifyOptions => ({
  algorithms: [alg],
  issuer: ISSUER,
  audience: 'api',
  clockTolerance: 60,
  requiredClaims: ['exp'],
})

/**
 * `viaJose`: the options are ones the fast path leaves to jwtVerify, so an accepted token must
 * have been checked by jose's own WebCrypto call.
 */
async function compareCorpus(
  t: TestContext,
  alg: TokenAlgorithm,
  getKey: JWTVerifyGetKey,
  cases: Record<string, string>,
  options: JWTVerifyOptions = GATEHOUSE_OPTIONS(alg),
  viaJose = false,
) {
  const fast = createJwtVerifier(getKey, options)
  const label = (name: string) => `${alg}, ${JSON.stringify(options)}, ${name}`
  for (const [name, token] of Object.entries(cases)) {
    let expected: Outcome
    let actual: Outcome
    let second: number
    // Both answers read the clock: compared only when they read the same second.
    do {
      second = nowSeconds()
      expected = await outcome(() => jwtVerify(token, getKey, options))
      actual = await outcome(() => fast(token))
    } while (nowSeconds() !== second)
    assert.deepEqual(actual, expected, label(name))
    // Under options left to jose, jose's answer is the expected one (a negative tolerance refuses all).
    if (MUST_ACCEPT.test(name) && (!viaJose || expected.accepted)) {
      assert.equal(actual.accepted, true, `${label(name)}: ${JSON.stringify(actual)}`)
      assert.deepEqual(await verifyCalls(t, () => jwtVerify(token, getKey, options)), { subtle: 1, node: 0 }, `${label(name)}: jose`)
      const path = viaJose ? { subtle: 1, node: 0 } : { subtle: 0, node: 1 }
      assert.deepEqual(await verifyCalls(t, () => fast(token)), path, `${label(name)}: the fast path`)
    }
    if (MUST_REJECT.test(name)) assert.equal(actual.accepted, false, label(name))
  }
}

for (const alg of TOKEN_ALGORITHMS) {
  test(`${alg}: the fast path and jwtVerify agree on every token of the corpus (a local public key)`, async (t) => {
    const keys = await keysFor(alg)
    const getKey = await loadLocalKey({ issuer: ISSUER, publicKey: keys.pem, publicKeyFile: undefined, algorithms: [alg] }, '.')
    await compareCorpus(t, alg, getKey, await corpus(alg, keys))
  })
}

/**
 * Registered claims at and around every boundary jose draws, with payload texts JSON.stringify
 * would not write: the same tokens under each set of options the fast path mirrors.
 */
function claimsCorpus(alg: TokenAlgorithm, keys: Keys): Record<string, string> {
  const header = { alg, typ: 'JWT' }
  const sign = (payload: Part) => signRaw(alg, keys.privateKey, header, payload)
  const now = nowSeconds()
  const base = { iss: ISSUER, aud: 'api', sub: 'user-1', iat: now, exp: now + 600 }
  const withClaims = (extra: Record<string, unknown>) => sign({ ...base, ...extra })
  const raw = (text: string) => sign(text)
  const cases: Record<string, string> = {
    'valid, the registered claims only': withClaims({}),
    'valid, a fractional exp': withClaims({ exp: now + 600.5 }),
    'valid, exp 1e400 (Infinity once parsed)': raw(`{"iss":"${ISSUER}","aud":"api","sub":"user-1","iat":${now},"exp":1e400}`),
    'valid, duplicate exp (the last one counts)': raw(
      `{"iss":"${ISSUER}","aud":"api","sub":"user-1","iat":${now},"exp":1,"exp":${now + 600}}`,
    ),
    'valid, an own __proto__ member': raw(
      `{"__proto__":{"exp":1},"iss":"${ISSUER}","aud":"api","sub":"user-1","iat":${now},"exp":${now + 600}}`,
    ),
    'valid, a payload with a BOM': raw(`\uFEFF${JSON.stringify(base)}`),
    'valid, whitespace around the JSON': raw(` \n${JSON.stringify(base)}\t `),
    'boundary: exp at now minus 61': withClaims({ exp: now - 61 }),
    'boundary: exp at now minus 60': withClaims({ exp: now - 60 }),
    'boundary: exp at now minus 59': withClaims({ exp: now - 59 }),
    'boundary: exp at now': withClaims({ exp: now }),
    'boundary: exp at now plus 1': withClaims({ exp: now + 1 }),
    'boundary: nbf at now plus 59': withClaims({ nbf: now + 59 }),
    'boundary: nbf at now plus 60': withClaims({ nbf: now + 60 }),
    'boundary: nbf at now plus 61': withClaims({ nbf: now + 61 }),
    'boundary: nbf at now plus 1': withClaims({ nbf: now + 1 }),
    'boundary: nbf at now': withClaims({ nbf: now }),
    'exp negative': withClaims({ exp: -1 }),
    'exp null': withClaims({ exp: null }),
    'exp true': withClaims({ exp: true }),
    'exp an array': withClaims({ exp: [now + 600] }),
    'exp as text': withClaims({ exp: `${now + 600}` }),
    'nbf null': withClaims({ nbf: null }),
    'iat null': withClaims({ iat: null }),
    'iat an object': withClaims({ iat: {} }),
    'iss and aud and exp missing': sign({ user_id: 'u' }),
    'aud and exp missing': sign({ iss: ISSUER }),
    'iss null': withClaims({ iss: null }),
    'iss an array holding the issuer': withClaims({ iss: [ISSUER] }),
    'iss another letter case': withClaims({ iss: ISSUER.toUpperCase() }),
    'iss with a trailing slash': withClaims({ iss: `${ISSUER}/` }),
    'aud a number': withClaims({ aud: 1 }),
    'aud null': withClaims({ aud: null }),
    'aud an empty array': withClaims({ aud: [] }),
    'aud an array without a match': withClaims({ aud: ['x', 'y'] }),
    'aud an array with a non-string and a match': withClaims({ aud: [1, 'api'] }),
    'aud nested in an array': withClaims({ aud: [['api']] }),
    'aud another letter case': withClaims({ aud: 'API' }),
    'payload null': raw('null'),
    'payload a string': raw('"text"'),
    'payload a number': raw('123'),
    'payload true': raw('true'),
    'payload empty': raw(''),
    'payload an empty object': raw('{}'),
    'payload with trailing text': raw(`${JSON.stringify(base)}x`),
    'payload of two objects': raw(`${JSON.stringify(base)}{}`),
    'payload with a lone surrogate escape': raw(`{"iss":"${ISSUER}","aud":"api","exp":${now + 600},"name":"\\ud800"}`),
    'payload of overlong UTF-8': sign(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])),
  }
  // A payload segment whose last character carries bits beyond the bytes (non-canonical base64url):
  // decoders drop them; the signature covers the text as written.
  const text = JSON.stringify({ ...base, pad: 'ab' })
  const canonical = b64u(text)
  if (canonical.length % 4 !== 0) {
    const last = canonical.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const noisy = `${canonical.slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}`
    const input = `${b64u(JSON.stringify(header))}.${noisy}`
    const { digest, key } = signParams(alg, keys.privateKey)
    cases['valid, payload with non-zero trailing bits'] = `${input}.${b64u(signBytes(digest, Buffer.from(input), key))}`
  }
  return cases
}

const MIRRORED_OPTIONS = (alg: TokenAlgorithm): JWTVerifyOptions[] => [
  GATEHOUSE_OPTIONS(alg),
  { algorithms: [alg], issuer: ISSUER, clockTolerance: 0, requiredClaims: ['exp'] },
  { algorithms: [alg], issuer: [ISSUER, 'https://other.example.com'], audience: ['x', 'api'], clockTolerance: 5 },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', requiredClaims: ['exp', 'sub', 'iat', 'aud'] },
  { algorithms: [alg], audience: 'api', issuer: undefined },
  { algorithms: [alg] },
]

// Options the fast path leaves to jwtVerify: a tolerance as text, subject, maxTokenAge, typ, currentDate, crit.
const JOSE_OPTIONS = (alg: TokenAlgorithm): JWTVerifyOptions[] => [
  { algorithms: [alg], issuer: ISSUER, audience: 'api', clockTolerance: '1m' },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', subject: 'user-1' },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', maxTokenAge: '1h' },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', typ: 'JWT' },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', currentDate: new Date() },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', crit: { 'urn:x': false } },
  { algorithms: [alg], issuer: ISSUER, audience: 'api', clockTolerance: -1 },
]

test('registered claims: the fast path and jwtVerify agree on every claims case, under every option set', async (t) => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const keys = await keysFor(alg)
    const getKey = await loadLocalKey({ issuer: ISSUER, publicKey: keys.pem, publicKeyFile: undefined, algorithms: [alg] }, '.')
    const cases = claimsCorpus(alg, keys)
    assert.ok(cases['valid, payload with non-zero trailing bits'], 'the corpus has its non-canonical payload')
    for (const options of MIRRORED_OPTIONS(alg)) await compareCorpus(t, alg, getKey, cases, options)
    for (const options of JOSE_OPTIONS(alg)) await compareCorpus(t, alg, getKey, cases, options, true)
  }
})

test('through a JWKS: an unknown kid, a JWK of another alg and a kid-less token get the same answers', async (t) => {
  const alg = 'ES256'
  const keys = await keysFor(alg)
  const foreign = await keysFor('ES384')
  const server = await startJwksServer([
    { ...keys.jwk, kid: 'k1', alg, use: 'sig' },
    { ...keys.jwk, kid: 'pinned-elsewhere', alg: 'ES384', use: 'sig' },
    { ...foreign.jwk, kid: 'p384', alg: 'ES384', use: 'sig' },
  ])
  const source = createJwksSource({ url: server.url, cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 })
  t.after(async () => {
    source.close()
    await server.close()
  })
  await source.refresh()
  const sign = (header: object) => signRaw(alg, keys.privateKey, header, claims())
  await compareCorpus(t, alg, source.getKey, {
    'valid, kid of the key': sign({ alg, kid: 'k1' }),
    'kid not in the JWKS': sign({ alg, kid: 'nope' }),
    'a JWK with another alg': sign({ alg, kid: 'pinned-elsewhere' }),
    'a JWK of another curve': sign({ alg, kid: 'p384' }),
    'no kid, two keys could fit': sign({ alg }),
  })
})

test('a key function handing back what jose would refuse or convert gets jose’s own answer', async () => {
  const alg = 'ES256'
  const keys = await keysFor(alg)
  const token = signRaw(alg, keys.privateKey, { alg }, claims())
  const p384 = (await generateKeyPair('ES384')).publicKey
  const weakRsa = await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )
  const weakToken = signRaw('RS256', KeyObject.from(weakRsa.privateKey), { alg: 'RS256' }, claims())
  const rsaPss = (await generateKeyPair('PS256')).publicKey
  const rsaWithSha384 = (await generateKeyPair('RS384')).publicKey
  const privateEc = (await generateKeyPair(alg, { extractable: true })).privateKey
  const asKeyObject = KeyObject.from(keys.publicKey)
  const cases: [string, TokenAlgorithm, string, unknown][] = [
    ['a key of another curve', alg, token, p384],
    ['a private key', alg, token, privateEc],
    ['a KeyObject (jose accepts it)', alg, token, asKeyObject],
    ['a JWK (jose imports it)', alg, token, keys.jwk],
    ['an RSA key under 2048 bits', 'RS256', weakToken, weakRsa.publicKey],
    ['an RSA-PSS key for RS256', 'RS256', weakToken, rsaPss],
    ['an RSA key bound to SHA-384 for RS256', 'RS256', weakToken, rsaWithSha384],
    ['not a key', alg, token, 'secret'],
  ]
  for (const [name, tokenAlg, jwt, key] of cases) {
    const getKey = (() => key) as JWTVerifyGetKey
    const options: JWTVerifyOptions = { algorithms: [tokenAlg], issuer: ISSUER, audience: 'api', requiredClaims: ['exp'] }
    const expected = await outcome(() => jwtVerify(jwt, getKey, options))
    assert.deepEqual(await outcome(() => createJwtVerifier(getKey, options)(jwt)), expected, name)
    if (name.startsWith('a KeyObject') || name.startsWith('a JWK')) assert.equal(expected.accepted, true, name)
    else assert.equal(expected.accepted, false, name)
  }
})
