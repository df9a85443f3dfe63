import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  ACCOUNT_PATH,
  clearedSessionCookie,
  createBrowserRequests,
  readFormBody,
  requiredField,
  SIGN_IN_REFUSED,
} from '../accounts/index.ts'
import type { FormBody } from '../accounts/index.ts'
import type { Session, SessionReader } from '../decide/index.ts'
import { ConflictError, EXPIRATION_DAYS, INVITE_PATH, InvalidInputError, NotFoundError, NotPermittedError } from '../directory/index.ts'
import type { AccountKeyInput, DirectoryOperations } from '../directory/index.ts'
import { problem, ProblemError, problems, sendProblem } from '../http/index.ts'
import type { Network, Problem } from '../http/index.ts'
import type { AccessOutcome } from '../log.ts'
import { StoreUnavailableError } from '../store/index.ts'
import { AccountPage, SignInPage } from './account-page.tsx'
import type { SignInNotice } from './account-page.tsx'
import { seeOther, sendAsset, sendPage } from './answers.ts'
import { createCsrfTokens, CSRF_FIELD } from './csrf.ts'
import { InvitePage } from './invite-page.tsx'
import { createOneTimeSecrets } from './one-time-secret.ts'
import { methodsOf } from './paths.ts'
import type { PageEndpoint } from './paths.ts'

export type PagesDoorDeps = {
  directory: Pick<DirectoryOperations, 'accountKeys'>
  /** Who the session cookie says is signed in, verified as routes verify it. */
  session: SessionReader
  /** The session cookie's name, for sign-out. */
  sessionCookie: string
  /** end_users.account_page.org_keys_permission: the permission a role needs for its org's keys. */
  orgKeysPermission: string
  /** Whether mail is configured, so that the page offers to email a sign-in link. */
  mail: boolean
  /** Secrets of gatehouse's for the pages (derived from the local issuer's key): the CSRF tokens' and the one-time display's. */
  secrets: { csrf: Buffer; oneTimeSecret: Buffer }
  /** `server.trust_proxy`: whose forwarding headers name the gateway's host (the same-origin rule). */
  trustProxy: readonly Network[]
  /** Unix seconds (default: the system clock). */
  now?: () => number
}

/** Answers one page endpoint (the canonical path's, from pageEndpointOf). */
export type PagesDoor = (req: IncomingMessage, res: ServerResponse, endpoint: PageEndpoint) => Promise<AccessOutcome>

const CROSS_SITE = problems.forbidden('Forms of the account page are accepted only from a page of this origin')
const BAD_CSRF = problems.forbidden('The form is missing its CSRF token, or it is not this session’s; reload the page')
const SIGNED_OUT = problems.unauthorized('Sign in on the account page first')
const MAX_SCOPES = 100

/**
 * The self-service pages on the gateway listener: `GET /.gatehouse/account` (the sign-in forms,
 * or the signed-in user's API keys and those of the orgs they manage), its form actions (create,
 * archive, sign out; each a 303 back to the page), an invitation's page, and the pages' assets.
 * Every form post must pass the decision's same-origin rule and carry the session's CSRF token
 * (403 otherwise); every change is a directory operation behind one ownership rule
 * (`accountKeys`). A created key's secret reaches the page in a short-lived encrypted cookie,
 * never in a URL.
 */
export function createPagesDoor(deps: PagesDoorDeps): PagesDoor {
  const { directory, session: sessionOf, orgKeysPermission: permission } = deps
  const browser = createBrowserRequests(deps.trustProxy)
  const csrf = createCsrfTokens(deps.secrets.csrf)
  const oneTime = createOneTimeSecrets(deps.secrets.oneTimeSecret)
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000))

  async function accountPage(req: IncomingMessage, res: ServerResponse): Promise<AccessOutcome> {
    const session = await sessionOf(req.rawHeaders)
    if (!session) {
      const notice = signInNoticeOf(new URLSearchParams((req.url ?? '').split('?')[1] ?? ''))
      sendPage(res, await render(<SignInPage mail={deps.mail} notice={notice} />))
      return { status: 200 }
    }
    const userId = session.identity.user!.userId
    const at = now()
    const created = oneTime.read(req.headers.cookie, userId, at)
    const keys = await directory.accountKeys.list(userId, permission)
    const page = (
      <AccountPage email={session.identity.user!.email ?? userId} keys={keys} csrf={csrf.tokenFor(session)} created={created} now={at} />
    )
    // Shown once: the cookie that carried the secret goes with this answer.
    sendPage(res, await render(page), created ? ['set-cookie', oneTime.cleared] : [])
    return { status: 200 }
  }

  async function invitePage(req: IncomingMessage, res: ServerResponse, secret: string): Promise<AccessOutcome> {
    const session = await sessionOf(req.rawHeaders)
    const email = session && (session.identity.user!.email ?? session.identity.user!.userId)
    sendPage(res, await render(<InvitePage action={`${INVITE_PATH}${secret}`} signedInAs={email ?? undefined} />))
    return { status: 200 }
  }

  /** A form post of a signed-in page: same origin, a session, its CSRF token; then the action. */
  async function formAction(
    req: IncomingMessage,
    res: ServerResponse,
    act: (session: Session, body: FormBody) => Promise<readonly string[]>,
  ): Promise<AccessOutcome> {
    const forwarded = browser.forwardedOf(req)
    if (!browser.sameOrigin(req, forwarded)) return refuse(res, CROSS_SITE, 'cross-site form post')
    const body = await readFormBody(req)
    if (body.json) throw new ProblemError(problems.badRequest('The account page posts forms (application/x-www-form-urlencoded)'))
    const session = await sessionOf(req.rawHeaders)
    if (!session) return refuse(res, SIGNED_OUT, 'form post without a session')
    if (!csrf.matches(session, body.fields.get(CSRF_FIELD))) return refuse(res, BAD_CSRF, 'form post without a valid CSRF token')
    const cookies = await act(session, body)
    seeOther(res, ACCOUNT_PATH, cookies)
    return { status: 303, requestId: forwarded.requestId }
  }

  async function createKey(session: Session, body: FormBody): Promise<readonly string[]> {
    const userId = session.identity.user!.userId
    const { key, secret } = await directory.accountKeys.create(userId, permission, newKeyInput(body))
    return ['set-cookie', oneTime.cookie(userId, { apiKeyId: key.api_key_id, secret }, now())]
  }

  async function archiveKey(session: Session, body: FormBody): Promise<readonly string[]> {
    await directory.accountKeys.archive(session.identity.user!.userId, permission, requiredField(body, 'api_key_id', 64))
    return []
  }

  async function signOut(): Promise<readonly string[]> {
    return ['set-cookie', clearedSessionCookie({ name: deps.sessionCookie, maxAgeSeconds: 0 }), 'set-cookie', oneTime.cleared]
  }

  function answer(req: IncomingMessage, res: ServerResponse, endpoint: PageEndpoint): Promise<AccessOutcome> | AccessOutcome {
    switch (endpoint.kind) {
      case 'asset':
        sendAsset(res, endpoint.asset)
        return { status: 200 }
      case 'account':
        return accountPage(req, res)
      case 'invite':
        return invitePage(req, res, endpoint.secret)
      case 'create-key':
        return formAction(req, res, createKey)
      case 'archive-key':
        return formAction(req, res, archiveKey)
      case 'sign-out':
        return formAction(req, res, signOut)
    }
  }

  async function answerOrRefuse(req: IncomingMessage, res: ServerResponse, endpoint: PageEndpoint): Promise<AccessOutcome> {
    try {
      const method = req.method ?? 'GET'
      const allowed = methodsOf(endpoint)
      if (!allowed.includes(method)) {
        return refuse(res, problems.methodNotAllowed(`${method} is not allowed here`), undefined, ['allow', allowed.join(', ')])
      }
      return await answer(req, res, endpoint)
    } catch (err) {
      const known = problemOf(err)
      if (!known) throw err
      // A body refused part-way is not read further: the connection ends with the answer.
      if (!req.complete) res.shouldKeepAlive = false
      return refuse(res, known.problem, undefined, Object.entries(known.headers).flat())
    }
  }

  // The pipeline logs an invitation's path without its secret (src/gateway.ts), whatever this answers.
  return answerOrRefuse
}

/** What the redirect that led to the sign-in page says: a link was mailed (`sent=1`), or why a form sign-in was refused. */
function signInNoticeOf(query: URLSearchParams): SignInNotice | undefined {
  if (query.get('sent') === '1') return 'link_sent'
  const refused = query.get(SIGN_IN_REFUSED)
  return refused === 'failed' || refused === 'too_many' ? refused : undefined
}

/** The create form's fields as the directory's input; 400 naming the field that is wrong. */
function newKeyInput(body: FormBody): AccountKeyInput {
  const name = requiredField(body, 'name', 255).trim()
  if (name === '') throw new ProblemError(problems.badRequest('name is required'))
  const expiration = body.fields.get('expiration') ?? 'never'
  if (!Object.hasOwn(EXPIRATION_DAYS, expiration)) {
    throw new ProblemError(problems.badRequest(`expiration must be one of ${Object.keys(EXPIRATION_DAYS).join(', ')}`))
  }
  const scopes = [...new Set((body.fields.get('scopes') ?? '').split(/[\s,]+/).filter((s) => s !== ''))]
  if (scopes.length > MAX_SCOPES || scopes.some((s) => s.length > 255)) {
    throw new ProblemError(problems.badRequest(`scopes: at most ${MAX_SCOPES}, each at most 255 characters`))
  }
  const owner = body.fields.get('owner') ?? 'me'
  return {
    name,
    expiration: expiration as keyof typeof EXPIRATION_DAYS,
    ...(scopes.length > 0 ? { scopes } : {}),
    ...(owner === 'me' ? {} : { org_id: owner }),
  }
}

/** A refusal of the directory, the store or the request as its problem; undefined for anything else (a 500). */
function problemOf(err: unknown): ProblemError | undefined {
  if (err instanceof ProblemError) return err
  if (err instanceof NotPermittedError) return new ProblemError(problems.forbidden(err.message))
  if (err instanceof NotFoundError) return new ProblemError(problems.notFound(err.message))
  if (err instanceof InvalidInputError) return new ProblemError(problems.badRequest(`${err.field}: ${err.message}`))
  if (err instanceof ConflictError) return new ProblemError(problem(409, 'conflict', 'Conflict', `${err.field}: ${err.message}`))
  if (err instanceof StoreUnavailableError) return new ProblemError(problems.serviceUnavailable('The store is unavailable; retry later'))
  return undefined
}

function refuse(res: ServerResponse, p: Problem, error?: string, headers: readonly string[] = []): AccessOutcome {
  sendProblem(res, p, headers)
  return { status: p.status, error }
}

/** A page's HTML (Hono's JSX renders to an escaped string, or a promise of one). */
async function render(page: string | Promise<string>): Promise<string> {
  return String(await page)
}
