import { hkdfSync } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose'
import type { CryptoKey, JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose'
// The directory's leaf modules, not its index: the directory opens this issuer.
import { AccessTokenError } from './errors.ts'
import { toOrgMemberInfo } from './org-member-info.ts'
import { InvalidTokenError, KeySourceUnavailableError } from '../authn/index.ts'
import type { LocalIssuerVerifier } from '../authn/index.ts'
import type { Identity, RoleTable } from '../identity/index.ts'
import { StoreUnavailableError } from '../store/index.ts'
import type { Store, StoredSigningKey, User } from '../store/index.ts'

export type LocalIssuerAlgorithm = 'ES256' | 'EdDSA' | 'RS256'

export type MintRequest = { userId: string; durationMinutes: number; activeOrgId?: string }

export type LocalIssuer = {
  issuer: string
  /**
   * A PropelAuth-format access token for the user, with their orgs as the directory has them now;
   * rejects with AccessTokenError (404 no such enabled user, 400 not a member of activeOrgId).
   */
  mint(request: MintRequest): Promise<string>
  /** What the gateway's verifier needs to accept these tokens and re-check their user. */
  verifier: LocalIssuerVerifier
  /** The public signing keys, for anyone else who verifies these tokens. */
  jwks(): JSONWebKeySet
  /**
   * A 32-byte secret for one purpose (`purpose` names it), derived from the signing key with
   * HKDF-SHA256: every replica derives the same one from the shared key, and no purpose's secret
   * tells anything of the key or of another purpose's.
   */
  deriveSecret(purpose: string): Buffer
}

/**
 * The local issuer (`tokens.local_issuer`): access tokens gatehouse mints itself. Its signing key lives in the store, so every replica and
 * every restart signs and verifies with the same key; the first start generates it.
 */
export async function createLocalIssuer(options: {
  store: Store
  roles: RoleTable
  issuer: string
  algorithm: LocalIssuerAlgorithm
}): Promise<LocalIssuer> {
  const { store, roles, issuer, algorithm } = options
  const stored = await signingKey(store, algorithm)
  const privateKey = (await importJWK(stored.private_jwk as JWK, algorithm)) as CryptoKey
  const publicJwk: JWK = { ...publicMembers(stored.private_jwk as JWK), kid: stored.kid, alg: algorithm, use: 'sig' }
  const publicKey = (await importJWK(publicJwk, algorithm)) as CryptoKey
  const jwks = Object.freeze({ keys: [publicJwk] })

  const getKey: JWTVerifyGetKey = (header) => {
    if (header.kid !== undefined && header.kid !== stored.kid) throw new InvalidTokenError('the token names an unknown key')
    return publicKey
  }

  async function check(identity: Identity): Promise<void> {
    const user = identity.user && (await store.getUser(identity.user.userId).catch(unavailable))
    if (!user) throw new InvalidTokenError('the user no longer exists')
    if (!user.enabled) throw new InvalidTokenError('the user is disabled')
  }

  async function mint({ userId, durationMinutes, activeOrgId }: MintRequest): Promise<string> {
    const user = await store.getUser(userId)
    if (!user) throw new AccessTokenError(404, `user ${userId} not found`, 'user_id')
    if (!user.enabled) throw new AccessTokenError(404, `user ${userId} is disabled`, 'user_id')
    const memberships = await store.listUserMemberships(userId)
    const orgs = memberships.map(({ org, membership }) => ({ ...toOrgMemberInfo(roles, org, membership), org_metadata: org.metadata }))
    let orgClaims: Record<string, unknown>
    if (activeOrgId !== undefined) {
      const active = orgs.find((o) => o.org_id === activeOrgId)
      if (!active) throw new AccessTokenError(400, `user ${userId} is not a member of org ${activeOrgId}`, 'active_org_id')
      orgClaims = { org_member_info: active }
    } else {
      orgClaims = { org_id_to_org_member_info: Object.fromEntries(orgs.map((o) => [o.org_id, o])) }
    }
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ ...userClaims(user), ...orgClaims, login_method: { login_method: 'generated_from_backend_api' } })
      .setProtectedHeader({ alg: algorithm, kid: stored.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + durationMinutes * 60)
      .sign(privateKey)
  }

  const keyMaterial = Buffer.from(String(stored.private_jwk.d), 'base64url')
  const deriveSecret = (purpose: string) => Buffer.from(hkdfSync('sha256', keyMaterial, 'gatehouse local issuer', purpose, 32))

  return { issuer, mint, jwks: () => jwks, deriveSecret, verifier: { issuer, algorithms: [algorithm], getKey, check } }
}

function unavailable(err: unknown): never {
  if (err instanceof StoreUnavailableError) throw new KeySourceUnavailableError(`the store cannot be reached: ${String(err.cause)}`)
  throw err
}

/** The current key of the algorithm; generated and stored when there is none (first writer wins). */
async function signingKey(store: Store, algorithm: LocalIssuerAlgorithm): Promise<StoredSigningKey> {
  const existing = (await store.listSigningKeys()).find((k) => k.alg === algorithm)
  if (existing) return existing
  const { privateKey } = await generateKeyPair(algorithm, { extractable: true })
  const privateJwk = await exportJWK(privateKey)
  const key: StoredSigningKey = {
    kid: await calculateJwkThumbprint(publicMembers(privateJwk)),
    alg: algorithm,
    private_jwk: privateJwk as Record<string, unknown>,
    created_at: Math.floor(Date.now() / 1000),
  }
  if (await store.addSigningKey(key)) return key
  // Another replica stored one first: use theirs, so every replica signs alike.
  const winner = (await store.listSigningKeys()).find((k) => k.alg === algorithm)
  if (!winner) throw new Error('the access-token signing key disappeared while it was being created')
  return winner
}

// An allow-list, so no private member (d, p, q, dp, dq, qi) can be published.
function publicMembers(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e } = jwk
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JWK
}

function userClaims(user: User): Record<string, unknown> {
  return {
    user_id: user.user_id,
    email: user.email,
    ...(user.first_name ? { first_name: user.first_name } : {}),
    ...(user.last_name ? { last_name: user.last_name } : {}),
    ...(user.username ? { username: user.username } : {}),
    ...(user.legacy_user_id ? { legacy_user_id: user.legacy_user_id } : {}),
    properties: user.properties,
    metadata: user.metadata,
  }
}
