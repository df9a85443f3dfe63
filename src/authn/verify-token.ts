import { decodeJwt, errors } from 'jose'
import type { JWTVerifyGetKey } from 'jose'
import type { Identity, RoleTable } from '../identity/index.ts'
import { discoveryBase, LOCAL_ISSUER_NAME } from '../config/index.ts'
import type { IssuerConfig, TokenAlgorithm } from '../config/index.ts'
import type { Metrics } from '../metrics/index.ts'
import { createClaimsMapper } from './claims.ts'
import type { ClaimsConfig, ClaimsMapper } from './claims.ts'
import { createDiscoveredKeySource } from './discovery.ts'
import type { KeySource } from './discovery.ts'
import { CredentialError, InvalidTokenError } from './errors.ts'
import type { KeySourceUnavailableError } from './errors.ts'
import { createIdentityCache } from './identity-cache.ts'
import { VERIFIED_BY } from '../identity/index.ts'
import { createJwksSource } from './jwks.ts'
import { createJwtVerifier } from './jwt-verifier.ts'
import type { VerifiedJwt } from './jwt-verifier.ts'
import { loadLocalKey } from './local-key.ts'
import { checkAccessToken, checkIssuedAt } from './token-checks.ts'

export type TokenVerifier = {
  /**
   * The identity of a valid token; rejects with InvalidTokenError (401) or KeySourceUnavailableError
   * (503). A cached identity comes back synchronously and is frozen and shared by every request
   * with that token: derive a new object to add per-request facts such as activeOrg.
   */
  verify(token: string): Identity | Promise<Identity>
  /** The same verification, neither reading nor filling the cache (explain: what a token yields now). */
  verifyAfresh(token: string): Promise<Identity>
  /** Whether every JWKS-backed issuer has fetched its keys at least once. */
  ready(): boolean
  /** Each JWKS-backed or discovered issuer whose keys are not there yet, with why: for /readyz. */
  unready(): { issuer: string; error?: string }[]
  /** Forgets every cached identity of the user, so that their next request is verified afresh. */
  evictUser(userId: string): void
  close(): void
}

export type TokenVerifierOptions = {
  issuers: IssuerConfig[]
  leewayMs: number
  cache: { maxEntries: number; ttlMs: number }
  jwks: { cooldownMs: number; refreshMs: number; timeoutMs: number }
  roles: RoleTable
  /** Where `public_key_file` paths are resolved from. */
  configDir: string
  fetch?: typeof fetch
  /** Where failed JWKS fetches are reported; they are never thrown, as the keys fetched before stay in use. */
  log?: { warn(details: object, message: string): void }
  /** The local issuer (`tokens.local_issuer`: tokens gatehouse mints, in the propelauth claim format), when enabled. */
  localIssuer?: LocalIssuerVerifier
  /** Told of token cache lookups and of every JWKS and discovery fetch. */
  metrics?: Metrics
}

/**
 * The local issuer, as the token verifier sees it. Its tokens are checked against the directory
 * on every verification: `check` rejects (InvalidTokenError) a token whose user is gone or
 * disabled, so such tokens stop within the cache's ttl instead of living until `exp`.
 */
export type LocalIssuerVerifier = {
  issuer: string
  algorithms: TokenAlgorithm[]
  getKey: JWTVerifyGetKey
  check(identity: Identity): Promise<void>
}

type IssuerVerifier = {
  /** The issuer's `name:`, which route `issuers:` lists refer to. */
  name?: string
  /** jose's jwtVerify with the issuer's keys and rules (signature, alg pinning, iss, aud, exp, nbf). */
  verifyJwt: (token: string) => Promise<VerifiedJwt>
  toIdentity: ClaimsMapper
  accessTokensOnly: boolean
  check?: (identity: Identity) => Promise<void>
}

// The local issuer's tokens use the propelauth claim format; the OIDC mapping is never read.
const LOCAL_CLAIMS: ClaimsConfig = {
  claims: 'propelauth',
  oidc: { userId: 'sub', email: 'email', orgId: undefined, orgName: undefined, orgRole: undefined },
  roleMap: new Map(),
  permissionsClaim: undefined,
  clientRoles: undefined,
  serviceTokenClaims: undefined,
}

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const leewaySeconds = options.leewayMs / 1000
  // Local keys are imported before any JWKS source starts, so a bad key file leaves nothing running.
  const localKeys = new Map<string, JWTVerifyGetKey | undefined>()
  for (const issuer of options.issuers) {
    if (localKeys.has(issuer.issuer)) throw new Error(`issuer ${issuer.issuer} is configured more than once`)
    localKeys.set(issuer.issuer, issuer.jwksUrl || issuer.discovery ? undefined : await loadLocalKey(issuer, options.configDir))
  }

  const keySources: { issuer: string; source: KeySource }[] = []
  function startKeySource(issuer: IssuerConfig): JWTVerifyGetKey {
    const onError = (error: KeySourceUnavailableError) =>
      options.log?.warn({ issuer: issuer.issuer, reason: error.reason }, 'JWKS fetch failed')
    const common = { ...options.jwks, fetch: options.fetch, onError, metrics: options.metrics }
    const source = issuer.jwksUrl
      ? createJwksSource({ url: issuer.jwksUrl, ...common })
      : createDiscoveredKeySource({ issuer: issuer.issuer, base: discoveryBase(issuer.issuer)!, ...common })
    keySources.push({ issuer: issuer.issuer, source })
    return source.getKey
  }

  const issuers = new Map<string, IssuerVerifier>()
  for (const issuer of options.issuers) {
    issuers.set(issuer.issuer, {
      name: issuer.name,
      // The schema guarantees one key source: a JWKS URL, discovery (an http(s) issuer), or a local key loaded above.
      verifyJwt: createJwtVerifier(localKeys.get(issuer.issuer) ?? startKeySource(issuer), {
        algorithms: [...issuer.algorithms],
        issuer: issuer.issuer,
        audience: issuer.audience,
        clockTolerance: leewaySeconds,
        requiredClaims: ['exp'],
      }),
      toIdentity: createClaimsMapper(issuer, options.roles),
      accessTokensOnly: issuer.tokenType === 'access',
    })
  }

  const local = options.localIssuer
  if (local) {
    if (issuers.has(local.issuer)) throw new Error(`issuer ${local.issuer} is both configured and gatehouse's own`)
    issuers.set(local.issuer, {
      name: LOCAL_ISSUER_NAME,
      verifyJwt: createJwtVerifier(local.getKey, {
        algorithms: local.algorithms,
        issuer: local.issuer,
        clockTolerance: leewaySeconds,
        requiredClaims: ['exp'],
      }),
      toIdentity: createClaimsMapper(LOCAL_CLAIMS, options.roles),
      // Its tokens are minted with typ JWT and never carry a nonce; nothing else is signed with its key.
      accessTokensOnly: false,
      check: local.check,
    })
  }

  const only = issuers.size === 1 ? [...issuers.values()][0] : undefined
  const cache = createIdentityCache({ ...options.cache, events: options.metrics?.cache('token') })

  async function verifyUncached(token: string, key: string): Promise<Identity> {
    const generation = cache.generation()
    const { identity, notAfterMs } = await verifyToken(token)
    cache.set(key, identity, notAfterMs, generation)
    return identity
  }

  async function verifyToken(token: string): Promise<{ identity: Identity; notAfterMs: number }> {
    // With one issuer there is nothing to choose: jose checks iss anyway, and the cold path is
    // spared decoding the payload twice.
    const issuer = only ?? issuers.get(unverifiedIssuer(token))
    if (!issuer) throw new InvalidTokenError('the token names an issuer that is not configured')
    let verified
    try {
      verified = await issuer.verifyJwt(token)
    } catch (error) {
      throw asAuthnError(error)
    }
    checkIssuedAt(verified.payload, Date.now() / 1000, leewaySeconds)
    if (issuer.accessTokensOnly) checkAccessToken(verified.protectedHeader, verified.payload)
    const identity = issuer.toIdentity(verified.payload)
    if (issuer.name !== undefined) identity[VERIFIED_BY] = issuer.name
    await issuer.check?.(identity)
    // requiredClaims makes jose reject a token without a numeric exp before we get here.
    return { identity, notAfterMs: (verified.payload.exp! + leewaySeconds) * 1000 }
  }

  return {
    verify(token) {
      const key = cache.keyOf(token)
      return cache.get(key) ?? verifyUncached(token, key)
    },
    verifyAfresh: async (token) => (await verifyToken(token)).identity,
    ready: () => keySources.every(({ source }) => source.ready()),
    unready: () =>
      keySources.flatMap(({ issuer, source }) => {
        if (source.ready()) return []
        const error = source.lastError()
        return [error === undefined ? { issuer } : { issuer, error }]
      }),
    evictUser: (userId) => cache.evictUser(userId),
    close() {
      for (const { source } of keySources) source.close()
      cache.clear()
    },
  }
}

// Only picks which issuer's keys and rules to verify with; nothing read here is trusted.
function unverifiedIssuer(token: string): string {
  let iss: unknown
  try {
    iss = decodeJwt(token).iss
  } catch {
    throw new InvalidTokenError('the token is not a well-formed JWT')
  }
  if (typeof iss !== 'string') throw new InvalidTokenError('the token has no iss claim')
  return iss
}

function asAuthnError(error: unknown): unknown {
  if (error instanceof CredentialError) return error
  if (error instanceof errors.JOSEError) return new InvalidTokenError(`${error.code}: ${error.message}`)
  return error
}
