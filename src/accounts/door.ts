import type { IncomingMessage, ServerResponse } from 'node:http'
import { allowedRedirect, LinkRefusedError, LoginRefusedError, MAGIC_LINK_PATH } from '../directory/index.ts'
import type { DirectoryOperations } from '../directory/index.ts'
import { ProblemError, problems, sendProblem } from '../http/index.ts'
import type { Forwarded, Network, Problem } from '../http/index.ts'
import type { AccessOutcome } from '../log.ts'
import type { Budget, Limiter } from '../ratelimit/index.ts'
import { StoreUnavailableError } from '../store/index.ts'
import type { RateSpec } from '../units/index.ts'
import { readFormBody, requiredField } from './body.ts'
import { createBrowserRequests } from './browser-origin.ts'
import type { FormBody } from './body.ts'
import type { AccountEndpoint } from './paths.ts'
import { clearedSessionCookie, sessionCookie } from './session-cookie.ts'
import type { SessionCookie } from './session-cookie.ts'

export type AccountsDoorDeps = {
  directory: Pick<DirectoryOperations, 'users' | 'tokens' | 'magicLinks'>
  /** The proxy's limiter: failed sign-ins are budgets like any other (GCRA, shared over Redis). */
  limiter: Limiter
  loginFailures: { perAccount: RateSpec; perClient: RateSpec }
  session: { cookie: string; durationMs: number }
  /** Where a form sign-in's `redirect_to` may send the browser (end_users.redirect_origins and public_url). */
  redirectOrigins: ReadonlySet<string>
  /** `server.trust_proxy`: whose X-Forwarded-For names the client a failure is counted against. */
  trustProxy: readonly Network[]
}

/** Answers one end-user endpoint (the canonical path's, from accountEndpointOf). */
export type AccountsDoor = (req: IncomingMessage, res: ServerResponse, endpoint: AccountEndpoint) => Promise<AccessOutcome>

const REFUSED_LOGIN = problems.unauthorized('Invalid email or password')
const REFUSED_LINK = problems.notFound('This link is invalid, used or expired')
/** A magic link's secret is in its path: the access log gets this instead. */
const LOGGED_MAGIC_PATH = `${MAGIC_LINK_PATH}…`
const CROSS_SITE = problems.forbidden('Sign-in and sign-out with a cookie are accepted only from a page of this origin')

/**
 * The end-user door on the gateway listener: `POST /.gatehouse/login` (email and password, JSON
 * or form-encoded) answers an access token of the local issuer as JSON, or sets it as the session
 * cookie (a form post, or JSON with `"session": "cookie"`); `POST /.gatehouse/logout` expires the
 * cookie; `GET /.gatehouse/magic/<secret>` uses a magic link once, sets the cookie and redirects
 * to the link's target (re-checked against the allow-list) or `/`. Failed sign-ins spend two budgets — the account's and the client address's — and a
 * sign-in with either exhausted is 429 before any password is checked, so guessing is as slow as
 * the smaller budget allows. Every refusal of the password check is the same 401 after the same
 * work (the directory verifies a dummy hash for an unknown email).
 */
export function createAccountsDoor(deps: AccountsDoorDeps): AccountsDoor {
  const { directory, limiter, loginFailures } = deps
  const { forwardedOf, sameOrigin } = createBrowserRequests(deps.trustProxy)
  const cookie: SessionCookie = { name: deps.session.cookie, maxAgeSeconds: Math.floor(deps.session.durationMs / 1000) }
  const tokenMinutes = Math.max(1, Math.floor(deps.session.durationMs / 60_000))

  function failureBudgets(email: string, forwarded: Forwarded): Budget[] {
    return [
      { key: `login:account:${email.toLowerCase()}`, spec: loginFailures.perAccount, name: 'login_account' },
      { key: `login:client:${forwarded.clientIp}`, spec: loginFailures.perClient, name: 'login_client' },
    ]
  }

  async function login(req: IncomingMessage, res: ServerResponse, forwarded: Forwarded): Promise<AccessOutcome> {
    const body = await readFormBody(req)
    const email = requiredField(body, 'email', 320)
    const password = requiredField(body, 'password', 4096)
    const wantsCookie = !body.json || body.fields.get('session') === 'cookie'
    if (wantsCookie && !sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, [], 'cross-site sign-in')
    const budgets = failureBudgets(email, forwarded)
    const wait = waitOf(await limiter.peekAll(budgets))
    if (wait !== undefined) return tooMany(res, wait, 'sign-in failures exhausted a budget')
    let user
    try {
      user = await directory.users.checkPassword(email, password)
    } catch (err) {
      if (!(err instanceof LoginRefusedError)) throw err
      await limiter.takeAll(budgets)
      return refuse(res, REFUSED_LOGIN, [], `login refused: ${err.reason}`)
    }
    const token = await directory.tokens.mint({ userId: user.user_id, durationMinutes: tokenMinutes })
    const outcome = { status: 200, requestId: forwarded.requestId }
    const answer = { user_id: user.user_id, update_password_required: user.update_password_required, expires_in: tokenMinutes * 60 }
    if (!wantsCookie) {
      sendJson(res, 200, { access_token: token, token_type: 'Bearer', ...answer })
      return outcome
    }
    if (body.json) {
      sendJson(res, 200, answer, ['set-cookie', sessionCookie(cookie, token)])
      return outcome
    }
    return signedInRedirect(res, token, body)
  }

  /** A form sign-in lands on its `redirect_to` when that is allowed, else on the gateway's root. */
  function signedInRedirect(res: ServerResponse, token: string, body: FormBody): AccessOutcome {
    return redirectSignedIn(res, token, body.fields.get('redirect_to') ?? null)
  }

  function redirectSignedIn(res: ServerResponse, token: string, asked: string | null): AccessOutcome {
    const location = (asked !== null && allowedRedirect(asked, deps.redirectOrigins)) || '/'
    res.writeHead(303, [
      'location',
      location,
      'set-cookie',
      sessionCookie(cookie, token),
      'content-length',
      '0',
      'cache-control',
      'no-store',
    ])
    res.end()
    return { status: 303 }
  }

  async function followMagicLink(res: ServerResponse, secret: string): Promise<AccessOutcome> {
    let followed
    try {
      followed = await directory.magicLinks.follow(secret)
    } catch (err) {
      if (!(err instanceof LinkRefusedError)) throw err
      return { ...refuse(res, REFUSED_LINK, [], `magic link refused: ${err.reason}`), loggedPath: LOGGED_MAGIC_PATH }
    }
    const token = await directory.tokens.mint({ userId: followed.user.user_id, durationMinutes: tokenMinutes })
    return { ...redirectSignedIn(res, token, followed.redirectTo), loggedPath: LOGGED_MAGIC_PATH }
  }

  function logout(req: IncomingMessage, res: ServerResponse, forwarded: Forwarded): AccessOutcome {
    if (!sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, [], 'cross-site sign-out')
    res.writeHead(204, ['set-cookie', clearedSessionCookie(cookie), 'cache-control', 'no-store'])
    res.end()
    return { status: 204, requestId: forwarded.requestId }
  }

  return async (req, res, endpoint) => {
    try {
      const method = endpoint.kind === 'magic' ? 'GET' : 'POST'
      if (req.method !== method) {
        const refused = refuse(res, problems.methodNotAllowed(`${req.method ?? ''} is not allowed here`), ['allow', method])
        return endpoint.kind === 'magic' ? { ...refused, loggedPath: LOGGED_MAGIC_PATH } : refused
      }
      switch (endpoint.kind) {
        case 'magic':
          return await followMagicLink(res, endpoint.secret)
        case 'login':
          return await login(req, res, forwardedOf(req))
        case 'logout':
          return logout(req, res, forwardedOf(req))
      }
    } catch (err) {
      if (err instanceof ProblemError) {
        // A body refused part-way is not read further: the connection ends with the answer.
        res.shouldKeepAlive = false
        return refuse(res, err.problem, Object.entries(err.headers).flat())
      }
      if (err instanceof StoreUnavailableError) return refuse(res, problems.serviceUnavailable('The store is unavailable; retry later'))
      throw err
    }
  }
}

function waitOf(decisions: readonly { allowed: boolean; waitSeconds: number }[]): number | undefined {
  let wait: number | undefined
  for (const d of decisions) if (!d.allowed) wait = Math.max(wait ?? 0, d.waitSeconds)
  return wait
}

function tooMany(res: ServerResponse, waitSeconds: number, error: string): AccessOutcome {
  const problem = problems.tooManyRequests(Math.round(waitSeconds * 1000) / 1000)
  return refuse(res, problem, ['retry-after', String(Math.max(1, Math.ceil(waitSeconds)))], error)
}

function refuse(res: ServerResponse, p: Problem, headers: readonly string[] = [], error?: string): AccessOutcome {
  sendProblem(res, p, headers)
  return { status: p.status, error }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: readonly string[] = []): void {
  const text = JSON.stringify(body)
  res.writeHead(status, [
    ...headers,
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(text)),
    'cache-control',
    'no-store',
  ])
  res.end(text)
}
