import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK, JWTPayload } from 'jose'

type SigningKey = { kid: string; alg: 'ES256' | 'RS256'; privateKey: CryptoKey; publicJwk: JWK }

export type TestIssuer = {
  issuer: string
  jwksUrl: string
  /** JWKS fetches served so far. */
  fetches: number
  /** When false, the JWKS endpoint answers 503. */
  online: boolean
  keys: SigningKey[]
  addKey(alg?: 'ES256' | 'RS256'): Promise<SigningKey>
  /** Signs a token with the given key (default: the first), iss and a 10-minute exp unless overridden. */
  sign(claims: JWTPayload, options?: { key?: SigningKey; header?: Record<string, unknown>; expiresIn?: number }): Promise<string>
  close(): Promise<void>
}

export const ISSUER = 'https://auth.test.example'

/** A real JWKS endpoint on loopback plus a token minter, standing in for PropelAuth or any OIDC provider. */
export async function startIssuer(): Promise<TestIssuer> {
  const keys: SigningKey[] = []
  const state = { fetches: 0, online: true }
  const server: Server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end()
    state.fetches++
    if (!state.online) return void res.writeHead(503).end('down')
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  const addKey = async (alg: 'ES256' | 'RS256' = 'ES256') => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
    const kid = `k${keys.length + 1}-${alg}`
    const key = { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
    keys.push(key)
    return key
  }
  await addKey('ES256')

  return {
    issuer: ISSUER,
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return state.fetches
    },
    get online() {
      return state.online
    },
    set online(value: boolean) {
      state.online = value
    },
    keys,
    addKey,
    sign: async (claims, options = {}) => {
      const key = options.key ?? keys[0]!
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ iss: ISSUER, iat: now, exp: now + (options.expiresIn ?? 600), ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header })
        .sign(key.privateKey)
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** PropelAuth-shaped claims for a user who is a member of the given orgs. */
export function propelauthClaims(userId: string, orgs: Record<string, { name?: string; role: string; permissions?: string[] }> = {}) {
  return {
    user_id: userId,
    email: `${userId}@example.com`,
    first_name: 'Test',
    properties: {},
    org_id_to_org_member_info: Object.fromEntries(
      Object.entries(orgs).map(([orgId, o]) => [
        orgId,
        {
          org_id: orgId,
          org_name: o.name ?? `Org ${orgId}`,
          url_safe_org_name: orgId,
          org_metadata: {},
          user_role: o.role,
          inherited_user_roles_plus_current_role: [o.role],
          user_permissions: o.permissions ?? [],
        },
      ]),
    ),
  }
}
