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
export async function mintTokens(issuer: BenchIssuer, userIds: readonly string[]): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000)
  const tokens: string[] = []
  for (let start = 0; start < userIds.length; start += BATCH) {
    const batch = userIds.slice(start, start + BATCH).map((userId) =>
      new SignJWT({
        ...propelauthClaims(userId, { 'org-bench': { name: 'Bench Org', role: 'Member' } }),
        iss: issuer.issuer,
        iat: now,
        exp: now + 7200,
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .sign(issuer.privateKey),
    )
    tokens.push(...(await Promise.all(batch)))
  }
  return tokens
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
