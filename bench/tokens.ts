import { exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey } from 'jose'
import { propelauthClaims } from '../test/support/issuer.ts'

export const BENCH_ISSUER = 'https://auth.bench.example'

/** The bench's token issuer: an ES256 key pair; gatehouse and fastify-stack get the public half as PEM. */
export type BenchIssuer = { issuer: string; publicKeyPem: string; privateKey: CryptoKey }

export async function createIssuer(): Promise<BenchIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  return { issuer: BENCH_ISSUER, publicKeyPem: await exportSPKI(publicKey), privateKey }
}

// Signing is asynchronous WebCrypto: a batch in flight at once runs about twice as fast as one by one.
const BATCH = 500

/**
 * One PropelAuth-format token per user id (a member of one org, as most real tokens are), valid
 * for two hours so that no run outlives them.
 */
export async function mintTokens(issuer: BenchIssuer, userIds: readonly string[], lifetimeS = 7200): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000)
  const tokens: string[] = []
  for (let start = 0; start < userIds.length; start += BATCH) {
    const batch = userIds.slice(start, start + BATCH).map((userId) =>
      new SignJWT({
        ...propelauthClaims(userId, { 'org-bench': { name: 'Bench Org', role: 'Member' } }),
        iss: issuer.issuer,
        iat: now,
        exp: now + lifetimeS,
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .sign(issuer.privateKey),
    )
    tokens.push(...(await Promise.all(batch)))
  }
  return tokens
}

/**
 * Tokens a verifying peer must refuse, by what is wrong with them: each is one valid token of the
 * issuer with one thing changed. A peer that admits any of them is not checking what gatehouse checks.
 */
export async function mintRefusedTokens(issuer: BenchIssuer): Promise<Record<string, string>> {
  const [valid = '', expired = ''] = await Promise.all(
    [mintTokens(issuer, ['refused-user']), mintTokens(issuer, ['expired-user'], -60)].map(async (t) => (await t)[0]),
  )
  const [header = '', payload = '', signature = ''] = valid.split('.')
  const other = await createIssuer()
  const [wrongKey = ''] = await mintTokens(other, ['refused-user'])
  const [wrongIssuer = ''] = await mintTokens({ ...issuer, issuer: 'https://elsewhere.example' }, ['refused-user'])
  // Alg confusion: the issuer's public key used as an HMAC secret, under a header that says HS256.
  const confused = await new SignJWT(decodePart(payload))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(issuer.publicKeyPem))
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`
  const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)
  const tamperedPayload = Buffer.from(JSON.stringify({ ...decodePart(payload), sub: 'someone-else' })).toString('base64url')
  return {
    'bad signature': `${header}.${payload}.${flipped}`,
    'tampered payload': `${header}.${tamperedPayload}.${signature}`,
    'wrong key': wrongKey,
    'wrong issuer': wrongIssuer,
    expired,
    'alg HS256 keyed with the public key': confused,
    'alg none': none,
  }
}

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** A per-request token source that walks the list round-robin, shared by all connections. */
export function rotation(tokens: readonly string[]): () => string {
  if (tokens.length === 0) throw new Error('rotation needs at least one token')
  let next = 0
  return () => {
    const token = tokens[next]!
    next = (next + 1) % tokens.length
    return token
  }
}
