import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { exportJWK, generateKeyPair } from 'jose'
import type { JWK } from 'jose'
import Provider from 'oidc-provider'

/** The resource (RFC 8707) whose access tokens gatehouse checks: the provider issues them as JWTs for it. */
export const API = 'https://api.gatehouse.test'
export const SERVICE_CLIENT = { id: 'billing-worker', secret: 'billing-worker-secret-0123456789' }
export const WEB_CLIENT = { id: 'web-app', secret: 'web-app-secret-0123456789abcdef', redirectUri: 'http://127.0.0.1:9/callback' }

export type TestProvider = {
  issuer: string
  /** Publishes a new signing key first and keeps the newest `keep` older ones, as a provider rotates. */
  rotate(keep?: number): Promise<void>
  /** The kid new tokens are signed with. */
  readonly signingKid: string
  /** Stops answering (connections refused) until `start` again, on the same port. */
  stop(): Promise<void>
  start(): Promise<void>
  clientCredentialsToken(scope: string): Promise<string>
  /** The authorization-code flow through the provider's dev interactions, driven over HTTP: login, consent, code exchange. */
  userToken(accountId: string, scope: string): Promise<string>
  close(): Promise<void>
}

async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }
}

/**
 * panva's oidc-provider (a certified OpenID provider) on a loopback port: discovery, JWKS,
 * client credentials and the authorization-code flow with JWT access tokens for API. A rotation
 * builds a new Provider instance with the new key set behind the same listener and issuer.
 */
export async function startOidcProvider(port: number): Promise<TestProvider> {
  const issuer = `http://127.0.0.1:${port}`
  let keys: JWK[] = [await signingKey('key-1')]
  let generation = 1
  const build = () =>
    new Provider(issuer, {
      clients: [
        {
          client_id: SERVICE_CLIENT.id,
          client_secret: SERVICE_CLIENT.secret,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
        {
          client_id: WEB_CLIENT.id,
          client_secret: WEB_CLIENT.secret,
          grant_types: ['authorization_code'],
          redirect_uris: [WEB_CLIENT.redirectUri],
          response_types: ['code'],
        },
      ],
      jwks: { keys },
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      ttl: { AccessToken: 600, ClientCredentials: 600, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
      cookies: { keys: ['cookie-signing-key-for-the-test-provider'] },
      findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@example.com` }) }),
      features: {
        devInteractions: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => API,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'read write',
            audience: API,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256', kid: keys[0]!.kid } },
          }),
        },
      },
    })
  let provider = build()
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => provider.callback()(req, res))
  const start = () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  await start()

  const basic = (client: { id: string; secret: string }) => `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`
  async function token(client: { id: string; secret: string }, form: Record<string, string>): Promise<string> {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    })
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string }
    if (!body.access_token) throw new Error(`token endpoint: ${res.status} ${body.error}: ${body.error_description}`)
    return body.access_token
  }

  async function userToken(accountId: string, scope: string): Promise<string> {
    const verifier = randomBytes(32).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const cookies = new Map<string, string>()
    const send = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(new URL(url, issuer), {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      })
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const eq = pair!.indexOf('=')
        cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1))
      }
      return res
    }
    const authorize = new URLSearchParams({
      client_id: WEB_CLIENT.id,
      response_type: 'code',
      redirect_uri: WEB_CLIENT.redirectUri,
      scope: `openid ${scope}`,
      resource: API,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'state-1',
    })
    let res = await send(`/auth?${authorize}`)
    for (let step = 0; step < 10; step++) {
      const location = res.headers.get('location')
      await res.arrayBuffer()
      if (!location) throw new Error(`the flow stopped at HTTP ${res.status}`)
      const target = new URL(location, issuer)
      if (target.href.startsWith(WEB_CLIENT.redirectUri)) {
        const code = target.searchParams.get('code')
        if (!code) throw new Error(`no code: ${target.search}`)
        return token(WEB_CLIENT, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: WEB_CLIENT.redirectUri,
          code_verifier: verifier,
          resource: API,
        })
      }
      if (/^\/interaction\/[^/]+$/.test(target.pathname)) {
        const page = await (await send(target.pathname)).text()
        const prompt = page.includes('name="prompt" value="consent"') ? 'consent' : 'login'
        const form = new URLSearchParams(prompt === 'login' ? { prompt, login: accountId, password: 'any' } : { prompt })
        res = await send(target.pathname, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form,
        })
        continue
      }
      res = await send(target.pathname + target.search)
    }
    throw new Error('the authorization flow did not reach the redirect URI')
  }

  return {
    issuer,
    get signingKid() {
      return keys[0]!.kid!
    },
    async rotate(keep = 1) {
      generation++
      keys = [await signingKey(`key-${generation}`), ...keys.slice(0, keep)]
      provider = build()
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    start,
    clientCredentialsToken: (scope) => token(SERVICE_CLIENT, { grant_type: 'client_credentials', scope, resource: API }),
    userToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
