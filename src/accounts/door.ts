import type { IncomingMessage, ServerResponse } from 'node:http'
import { allowedRedirect, InvalidInputError, InviteRefusedError, LinkRefusedError, LoginRefusedError } from '../directory/index.ts'
import type { AcceptInput, DirectoryOperations } from '../directory/index.ts'
import { problem, ProblemError, problems } from '../http/index.ts'
import type { Forwarded, Network, Problem } from '../http/index.ts'
import type { Identity } from '../identity/index.ts'
import type { AccessOutcome } from '../log.ts'
import { MailDeliveryError } from '../mail/index.ts'
import type { Budget, Limiter } from '../ratelimit/index.ts'
import { StoreUnavailableError } from '../store/index.ts'
import type { RateSpec } from '../units/index.ts'
import { redirect, refuse, sendJson, tooMany, waitOf } from './answers.ts'
import { optionalField, readFormBody, requiredField } from './body.ts'
import { createBrowserRequests } from './browser-origin.ts'
import type { FormBody } from './body.ts'
import { ACCOUNT_PATH, SIGN_IN_REFUSED } from './paths.ts'
import type { SignInRefusal } from './paths.ts'
import type { AccountEndpoint } from './paths.ts'
import { clearedSessionCookie, sessionCookie } from './session-cookie.ts'
import type { SessionCookie } from './session-cookie.ts'

export type AccountsDoorDeps = {
  directory: Pick<DirectoryOperations, 'users' | 'tokens' | 'magicLinks' | 'invites'>
  /** The proxy's limiter: failed sign-ins are budgets like any other (GCRA, shared over Redis). */
  limiter: Limiter
  loginFailures: { perAccount: RateSpec; perClient: RateSpec }
  session: { cookie: string; durationMs: number }
  /** Where a form sign-in's `redirect_to` may send the browser (end_users.redirect_origins and public_url). */
  redirectOrigins: ReadonlySet<string>
  /** `server.trust_proxy`: whose X-Forwarded-For names the client a failure is counted against. */
  trustProxy: readonly Network[]
  /**
   * Who the request's session cookie signs in, verified by the decision module's verifier (the
   * one the routes use); undefined without a valid session.
   */
  identifyCaller: (req: IncomingMessage) => Promise<Identity | undefined>
  /** Whether mail is configured: without it POST /.gatehouse/magic is 404. */
  mailsLinks: boolean
  /** Where a mail sent in the background reports its failure (the mailer logs the delivery itself). */
  log: { warn(details: object, message: string): void }
}

/** Answers one end-user endpoint (the canonical path's, from accountEndpointOf). */
export type AccountsDoor = (req: IncomingMessage, res: ServerResponse, endpoint: AccountEndpoint) => Promise<AccessOutcome>

const REFUSED_LOGIN = problems.unauthorized('Invalid email or password')
const REFUSED_LINK = problems.notFound('This link is invalid, used or expired')
const REFUSED_INVITE = problems.notFound('This invitation is invalid, used, revoked or expired')
const CROSS_SITE = problems.forbidden('Sign-in and sign-out with a cookie are accepted only from a page of this origin')
const MAIL_OFF = problems.notFound('Links by mail are off: configure mail')
/** The method each endpoint takes, and the Allow its 405 names: an invitation's URL is also the pages' GET (src/pages). */
const METHOD_OF: Record<AccountEndpoint['kind'], { method: string; allow: string }> = {
  login: { method: 'POST', allow: 'POST' },
  logout: { method: 'POST', allow: 'POST' },
  magic_request: { method: 'POST', allow: 'POST' },
  magic: { method: 'GET', allow: 'GET' },
  invite: { method: 'POST', allow: 'GET, HEAD, POST' },
}

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
    if (wait !== undefined) {
      const error = 'sign-in failures exhausted a budget'
      return body.json ? tooMany(res, wait, error) : backToSignIn(res, 'too_many', error)
    }
    let user
    try {
      user = await directory.users.checkPassword(email, password)
    } catch (err) {
      if (!(err instanceof LoginRefusedError)) throw err
      await limiter.takeAll(budgets)
      const error = `login refused: ${err.reason}`
      return body.json ? refuse(res, REFUSED_LOGIN, [], error) : backToSignIn(res, 'failed', error)
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

  /**
   * A refused form sign-in goes back to gatehouse's sign-in page, which says why (one word for
   * every refusal of the email and password, as the JSON answer has one 401), rather than
   * leaving the browser on a JSON problem.
   */
  const backToSignIn = (res: ServerResponse, why: SignInRefusal, error: string): AccessOutcome => ({
    ...redirect(res, `${ACCOUNT_PATH}?${SIGN_IN_REFUSED}=${why}`),
    error,
  })

  /** A form sign-in lands on its `redirect_to` when that is allowed, else on the gateway's root. */
  function signedInRedirect(res: ServerResponse, token: string, body: FormBody): AccessOutcome {
    return redirectSignedIn(res, token, body.fields.get('redirect_to') ?? null)
  }

  function redirectSignedIn(res: ServerResponse, token: string, asked: string | null): AccessOutcome {
    return seeOther(res, token, (asked !== null && allowedRedirect(asked, deps.redirectOrigins)) || '/')
  }

  const seeOther = (res: ServerResponse, token: string, location: string): AccessOutcome =>
    redirect(res, location, ['set-cookie', sessionCookie(cookie, token)])

  async function followMagicLink(res: ServerResponse, secret: string): Promise<AccessOutcome> {
    let followed
    try {
      followed = await directory.magicLinks.follow(secret)
    } catch (err) {
      if (!(err instanceof LinkRefusedError)) throw err
      return refuse(res, REFUSED_LINK, [], `magic link refused: ${err.reason}`)
    }
    const token = await directory.tokens.mint({ userId: followed.user.user_id, durationMinutes: tokenMinutes })
    return redirectSignedIn(res, token, followed.redirectTo)
  }

  /**
   * Mails a magic link to an existing user. The answer is the same whether the email is known
   * or not, and it comes before the link is made and mailed (in the background), so neither the
   * answer nor its timing tells; every request spends the failed-login budgets, so asking is as
   * slow as guessing passwords.
   */
  async function requestMagicLink(req: IncomingMessage, res: ServerResponse, forwarded: Forwarded): Promise<AccessOutcome> {
    if (!deps.mailsLinks) return refuse(res, MAIL_OFF)
    if (!sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, [], 'cross-site magic-link request')
    const body = await readFormBody(req)
    const email = requiredField(body, 'email', 320)
    const redirectTo = body.fields.get('redirect_to')
    if (redirectTo !== undefined && allowedRedirect(redirectTo, deps.redirectOrigins) === undefined) {
      throw new ProblemError(problems.badRequest('redirect_to must be a path on the gateway or a URL on end_users.redirect_origins'))
    }
    const budgets = failureBudgets(email, forwarded)
    const wait = waitOf(await limiter.peekAll(budgets))
    if (wait !== undefined) return tooMany(res, wait, 'magic-link requests exhausted a budget')
    await limiter.takeAll(budgets)
    directory.magicLinks.mail({ email, ...(redirectTo === undefined ? {} : { redirect_to_url: redirectTo }) }).catch((err: unknown) => {
      if (!(err instanceof MailDeliveryError)) deps.log.warn({ err: String(err) }, 'a requested magic link was not made')
    })
    if (!body.json) return { ...redirect(res, `${ACCOUNT_PATH}?sent=1`), requestId: forwarded.requestId }
    sendJson(res, 202, { detail: 'If an account has this email, a sign-in link is on its way' })
    return { status: 202, requestId: forwarded.requestId }
  }

  /**
   * Accepts an invitation: as the user the session cookie signs in, or else by signing up with a
   * password for the invite's email. Either way the answer carries a fresh session (its token
   * lists the new membership).
   */
  async function acceptInvite(req: IncomingMessage, res: ServerResponse, forwarded: Forwarded, secret: string): Promise<AccessOutcome> {
    if (!sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, [], 'cross-site invitation acceptance')
    const body = await readFormBody(req)
    const caller = await deps.identifyCaller(req)
    const input: AcceptInput =
      caller?.user !== undefined
        ? { user_id: caller.user.userId }
        : {
            password: requiredField(body, 'password', 4096),
            ...optionalField(body, 'first_name'),
            ...optionalField(body, 'last_name'),
          }
    let accepted
    try {
      accepted = await directory.invites.accept(secret, input)
    } catch (err) {
      if (err instanceof InviteRefusedError) return refuse(res, inviteProblem(err), [], `invitation refused: ${err.reason}`)
      if (err instanceof InvalidInputError) throw new ProblemError(problems.badRequest(`${err.field}: ${err.message}`))
      throw err
    }
    const { user, membership } = accepted
    const token = await directory.tokens.mint({ userId: user.user_id, durationMinutes: tokenMinutes })
    if (!body.json) return seeOther(res, token, ACCOUNT_PATH)
    sendJson(res, 200, { user_id: user.user_id, org_id: membership.org_id, role: membership.role }, [
      'set-cookie',
      sessionCookie(cookie, token),
    ])
    return { status: 200, requestId: forwarded.requestId }
  }

  function logout(req: IncomingMessage, res: ServerResponse, forwarded: Forwarded): AccessOutcome {
    if (!sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, [], 'cross-site sign-out')
    res.writeHead(204, ['set-cookie', clearedSessionCookie(cookie), 'cache-control', 'no-store'])
    res.end()
    return { status: 204, requestId: forwarded.requestId }
  }

  async function answer(req: IncomingMessage, res: ServerResponse, endpoint: AccountEndpoint): Promise<AccessOutcome> {
    try {
      const { method, allow } = METHOD_OF[endpoint.kind]
      if (req.method !== method) return refuse(res, problems.methodNotAllowed(`${req.method ?? ''} is not allowed here`), ['allow', allow])
      switch (endpoint.kind) {
        case 'magic':
          return await followMagicLink(res, endpoint.secret)
        case 'invite':
          return await acceptInvite(req, res, forwardedOf(req), endpoint.secret)
        case 'magic_request':
          return await requestMagicLink(req, res, forwardedOf(req))
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

  // The pipeline logs a one-time link's path without its secret (src/gateway.ts), whatever this answers.
  return answer
}

/** A refused invitation's answer: one 404 for every link that does not work, else what stands in the way. */
function inviteProblem(err: InviteRefusedError): Problem {
  if (err.kind === 'gone') return REFUSED_INVITE
  return err.kind === 'forbidden'
    ? problem(403, 'invite-refused', 'Forbidden', err.message, { error_code: err.reason })
    : problem(409, 'invite-refused', 'Conflict', err.message, { error_code: err.reason })
}
