import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK, JWTPayload } from 'jose'
import { createRoleTable } from '../../src/identity/index.ts'
import type { IssuerConfig } from '../../src/config/index.ts'

export const ISSUER = 'https://auth.example.com'
export const ROLES = createRoleTable([
  { name: 'Owner', permissions: ['billing'] },
  { name: 'Admin', permissions: ['manage_keys'] },
  { name: 'Member', permissions: ['read'] },
])

export type TestKey = { kid: string; alg: 'ES256' | 'RS256'; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

export async function createKey(alg: 'ES256' | 'RS256', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

export const pemOf = (key: TestKey) => exportSPKI(key.publicKey)

export const nowSeconds = () => Math.floor(Date.now() / 1000)

/** Signs `claims` over a default of iss, user_id and a 10-minute exp; `undefined` values drop a default. */
export async function sign(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: JWTPayload = { iss: ISSUER, user_id: 'user-1', iat: nowSeconds(), exp: nowSeconds() + 600, ...claims }
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name]
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey)
}

export function unsignedToken(payload: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`
}

export type JwksMode = 'ok' | 'error' | 'garbage' | 'hang'

/** A real JWKS endpoint on loopback whose key set and behaviour a test can change. */
export async function startJwksServer(keys: JWK[]) {
  const state = { keys, fetches: 0, mode: 'ok' as JwksMode }
  const server = createServer((_req, res) => {
    state.fetches++
    if (state.mode === 'hang') return
    if (state.mode === 'error') return void res.writeHead(500, { connection: 'close' }).end('down')
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' })
    res.end(state.mode === 'garbage' ? '{"keys": [' : JSON.stringify({ keys: state.keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let closed = false
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    state,
    close: () =>
      closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            closed = true
            server.closeAllConnections()
            server.close(() => resolve())
          }),
  }
}

export function issuerConfig(overrides: Partial<IssuerConfig>): IssuerConfig {
  return {
    name: undefined,
    issuer: ISSUER,
    audience: undefined,
    jwksUrl: undefined,
    publicKey: undefined,
    publicKeyFile: undefined,
    algorithms: ['ES256', 'RS256'],
    claims: 'propelauth',
    oidc: { userId: 'sub', email: 'email', orgId: undefined, orgName: undefined, orgRole: undefined },
    discovery: false,
    roleMap: new Map(),
    permissionsClaim: undefined,
    clientRoles: undefined,
    serviceTokenClaims: undefined,
    tokenType: 'any',
    ...overrides,
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves once `check` holds, polling; JWKS fetches at creation run in the background. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await sleep(5)
  }
}
