import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/**
 * End-user sign-in through the real gateway and admin listeners: users and passwords made over
 * the admin API, sign-in and sign-out on /.gatehouse/, the session cookie as a route's
 * credential, and the abuse cases (lockout by the limiter, an unknown email answered like a
 * wrong password, cross-site posts, oversized bodies).
 */

const ADMIN_KEY = 'end-users-admin-key-0123456789'
const COOKIE = 'gh_session'
const PASSWORD = 'correct horse battery staple'
const APP_ORIGIN = 'https://app.example.com'

type Started = { gateway: TestGateway; upstream: TestUpstream; origin: string }

async function start(loginFailures: Record<string, string>): Promise<Started> {
  const upstream = await startUpstream()
  const gateway = await startGateway({
    admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
    upstream: { url: upstream.url },
    store: { url: 'sqlite:./gatehouse.db' },
    tokens: { local_issuer: true },
    end_users: {
      enabled: true,
      public_url: APP_ORIGIN,
      session: { cookie: COOKIE, duration: '1h' },
      login_failures: loginFailures,
    },
    routes: [{ path: '/me', auth: 'user', credentials_from: ['header', `cookie:${COOKIE}`] }],
  })
  return { gateway, upstream, origin: gateway.url }
}

/**
 * The suite's gateway: started before its tests with these sign-in limits, closed after them. The
 * object is filled in by the `before` hook, so the tests (and helpers made at describe time) read it.
 */
function startForSuite(loginFailures: Record<string, string>): Started {
  const s = {} as Started
  before(async () => {
    Object.assign(s, await start(loginFailures))
  })
  after(async () => {
    await s.gateway.close()
    await s.upstream.close()
  })
  return s
}

async function admin(s: Started, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(s.gateway.adminUrl + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

async function createUser(s: Started, email: string, extra: Record<string, unknown> = { password: PASSWORD }): Promise<string> {
  const created = await admin(s, 'POST', '/v1/users', { email, email_confirmed: true, ...extra })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return created.body.user_id as string
}

function login(s: Started, body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.origin}/.gatehouse/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    redirect: 'manual',
  })
}

function formLogin(s: Started, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.origin}/.gatehouse/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.origin, ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  })
}

const sessionOf = (res: Response): string | undefined => {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))
  return line?.slice(COOKIE.length + 1).split(';', 1)[0]
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

describe('end-user sign-in through the gateway', () => {
  const s = startForSuite({ per_account: '1000/1m', per_client: '1000/1m' })

  it('email + password answers a local access token the routes accept; the password and token never reach the log', async () => {
    const userId = await createUser(s, 'Ada@Example.com')
    const res = await login(s, { email: 'ada@example.COM', password: PASSWORD })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.deepEqual(res.headers.getSetCookie(), [], 'a JSON sign-in sets no cookie unless asked')
    const answer = (await res.json()) as Record<string, unknown>
    assert.deepEqual(Object.keys(answer).sort(), ['access_token', 'expires_in', 'token_type', 'update_password_required', 'user_id'])
    assert.deepEqual(
      [answer.user_id, answer.token_type, answer.expires_in, answer.update_password_required],
      [userId, 'Bearer', 3600, false],
    )
    const me = await fetch(`${s.origin}/me`, { headers: { authorization: `Bearer ${answer.access_token as string}` } })
    assert.equal(me.status, 200)
    assert.equal(s.upstream.last().headers['x-gatehouse-user-id'], userId)
    const logged = JSON.stringify(s.gateway.logs)
    assert.ok(!logged.includes(PASSWORD) && !logged.includes(answer.access_token as string), 'neither the password nor the token is logged')
  })

  it('the session cookie: HttpOnly, Secure, SameSite=Lax; a credential on GET, and on POST only from this origin; hidden from the upstream', async () => {
    const userId = await createUser(s, 'cookie@example.com')
    const res = await login(s, { email: 'cookie@example.com', password: PASSWORD, session: 'cookie' }, { origin: s.origin })
    assert.equal(res.status, 200)
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(body.user_id, userId)
    assert.ok(!('access_token' in body), 'the token is only in the HttpOnly cookie')
    const [line] = res.headers.getSetCookie()
    assert.match(line ?? '', new RegExp(`^${COOKIE}=[^;]+; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax$`))
    const cookie = `theme=dark; ${COOKIE}=${sessionOf(res)!}`
    const get = await fetch(`${s.origin}/me`, { headers: { cookie, origin: 'https://evil.example' } })
    assert.equal(get.status, 200)
    assert.equal(s.upstream.last().headers['x-gatehouse-user-id'], userId)
    assert.equal(s.upstream.last().headers.cookie, 'theme=dark', 'the session cookie is not passed upstream')
    const crossSite = await fetch(`${s.origin}/me`, { method: 'POST', headers: { cookie, origin: 'https://evil.example' } })
    assert.equal(crossSite.status, 403)
    assert.equal((await fetch(`${s.origin}/me`, { method: 'POST', headers: { cookie } })).status, 403, 'no Origin, no Sec-Fetch-Site')
    assert.equal((await fetch(`${s.origin}/me`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'same-origin' } })).status, 200)
    assert.equal((await fetch(`${s.origin}/me`, { method: 'POST', headers: { cookie, origin: s.origin } })).status, 200)
  })

  it('a form sign-in sets the cookie and redirects 303 to an allowed redirect_to, else to /; a cross-site form is 403', async () => {
    await createUser(s, 'form@example.com')
    const fields = { email: 'form@example.com', password: PASSWORD }
    const plain = await formLogin(s, fields)
    assert.deepEqual([plain.status, plain.headers.get('location')], [303, '/'])
    assert.ok(sessionOf(plain))
    const allowed = await formLogin(s, { ...fields, redirect_to: `${APP_ORIGIN}/dashboard?tab=1` })
    assert.equal(allowed.headers.get('location'), `${APP_ORIGIN}/dashboard?tab=1`)
    assert.equal((await formLogin(s, { ...fields, redirect_to: '/settings' })).headers.get('location'), '/settings')
    for (const evil of [
      'https://evil.example/',
      '//evil.example/',
      '/\\evil.example',
      `${APP_ORIGIN}@evil.example/`,
      `https://user@${APP_ORIGIN.slice(8)}/`,
      'javascript:alert(1)',
      `${APP_ORIGIN}.evil.example/`,
      '/\t/evil.example',
    ]) {
      const res = await formLogin(s, { ...fields, redirect_to: evil })
      assert.deepEqual([res.status, res.headers.get('location')], [303, '/'], evil)
    }
    const crossSite = await formLogin(s, fields, { origin: 'https://evil.example' })
    assert.equal(crossSite.status, 403)
    assert.deepEqual(crossSite.headers.getSetCookie(), [])
    assert.equal((await formLogin(s, fields, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status, 403)
  })

  it('sign-out expires the cookie, only from this origin', async () => {
    const out = await fetch(`${s.origin}/.gatehouse/logout`, { method: 'POST', headers: { origin: s.origin } })
    assert.equal(out.status, 204)
    assert.deepEqual(out.headers.getSetCookie(), [`${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`])
    const crossSite = await fetch(`${s.origin}/.gatehouse/logout`, { method: 'POST', headers: { origin: 'https://evil.example' } })
    assert.equal(crossSite.status, 403)
    assert.deepEqual(crossSite.headers.getSetCookie(), [])
  })

  it('an unknown email, a wrong password, a user without password and a disabled user get the same 401', async () => {
    await createUser(s, 'same@example.com')
    await createUser(s, 'nopassword@example.com', {})
    const disabled = await createUser(s, 'disabled@example.com')
    assert.equal((await admin(s, 'POST', `/v1/users/${disabled}/disable`)).status, 200)
    const answers = await Promise.all(
      [
        { email: 'nobody@example.com', password: PASSWORD },
        { email: 'same@example.com', password: 'not the password at all' },
        { email: 'nopassword@example.com', password: PASSWORD },
        { email: 'disabled@example.com', password: PASSWORD },
      ].map(async (body) => {
        const res = await login(s, body)
        return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
      }),
    )
    for (const answer of answers) assert.deepEqual(answer, answers[0])
    assert.equal(answers[0]!.status, 401)
    assert.match(answers[0]!.body, /Invalid email or password/)
    assert.match(String(s.gateway.logs.find((l) => l.error === 'login refused: unknown_email')?.path), /\/\.gatehouse\/login/)
  })

  it('the answer for an unknown email takes as long as for a wrong password (medians within a loose bound)', async () => {
    await createUser(s, 'timing@example.com')
    const time = async (email: string) => {
      const started = performance.now()
      const res = await login(s, { email, password: 'a wrong password here' })
      await res.arrayBuffer()
      assert.equal(res.status, 401)
      return performance.now() - started
    }
    const unknown: number[] = []
    const wrong: number[] = []
    for (let i = 0; i < 15; i++) {
      unknown.push(await time(`unknown-${i}@example.com`))
      wrong.push(await time('timing@example.com'))
    }
    const [u, w] = [median(unknown), median(wrong)]
    console.log(`login refusal medians over 15 tries: unknown email ${u.toFixed(1)} ms, wrong password ${w.toFixed(1)} ms`)
    // Both verify one Argon2id hash (~tens of ms); without the dummy hash the unknown email would answer in about 1 ms.
    assert.ok(u > w * 0.5 && u < w * 2, `unknown ${u} ms vs wrong ${w} ms`)
  })

  it('a disabled user’s session stops working; update_password_required is told at sign-in', async () => {
    const userId = await createUser(s, 'later@example.com', { password: PASSWORD, ask_user_to_update_password_on_login: true })
    const res = await login(s, { email: 'later@example.com', password: PASSWORD })
    const answer = (await res.json()) as { access_token: string; update_password_required: boolean }
    assert.equal(answer.update_password_required, true)
    const headers = { authorization: `Bearer ${answer.access_token}` }
    assert.equal((await fetch(`${s.origin}/me`, { headers })).status, 200)
    await admin(s, 'POST', `/v1/users/${userId}/disable`)
    assert.equal((await fetch(`${s.origin}/me`, { headers })).status, 401)
  })

  it('a migrated bcrypt hash signs in; a password set over the admin API replaces it', async () => {
    const userId = await createUser(s, 'legacy@example.com', {})
    const migrated = await admin(s, 'POST', '/v1/users/migrate', {
      email: 'legacy2@example.com',
      email_confirmed: true,
      existing_password_hash: '$2b$04$hYWNt4XpzIiqyG56z.0q3u6t4HS936c6G.AQFJanrKRFwJVuqQ/di',
    })
    assert.equal((await login(s, { email: 'legacy2@example.com', password: 'hunter2hunter2' })).status, 200)
    assert.equal((await login(s, { email: 'legacy2@example.com', password: 'hunter2hunter2' })).status, 200, 'and again, rehashed')
    assert.equal(migrated.status, 201)
    assert.equal((await admin(s, 'PUT', `/v1/users/${userId}/password`, { password: 'a brand new password' })).status, 200)
    assert.equal((await login(s, { email: 'legacy@example.com', password: 'a brand new password' })).status, 200)
    assert.equal((await admin(s, 'DELETE', `/v1/users/${userId}/password`)).status, 200)
    assert.equal((await login(s, { email: 'legacy@example.com', password: 'a brand new password' })).status, 401)
  })

  it('refuses other methods (405), other media types (415), oversized bodies (413), missing fields and non-string values (400)', async () => {
    const get = await fetch(`${s.origin}/.gatehouse/login`)
    assert.deepEqual([get.status, get.headers.get('allow')], [405, 'POST'])
    const text = await fetch(`${s.origin}/.gatehouse/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })
    assert.equal(text.status, 415)
    const big = await login(s, { email: 'a@example.com', password: 'x'.repeat(9000) })
    assert.equal(big.status, 413)
    assert.equal((await login(s, { email: 'a@example.com' })).status, 400)
    const notString = await fetch(`${s.origin}/.gatehouse/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@example.com', password: 12345678 }),
    })
    assert.equal(notString.status, 400)
    assert.equal(
      (await fetch(`${s.origin}/.gatehouse/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[' })).status,
      400,
    )
    assert.equal((await fetch(`${s.origin}/.gatehouse/other`)).status, 404, 'the rest of the reserved prefix is still unknown')
  })
})

describe('magic links through the admin API and the gateway', () => {
  const s = startForSuite({ per_account: '1000/1m', per_client: '1000/1m' })

  const create = (body: Record<string, unknown>) => admin(s, 'POST', '/v1/magic_links', body)
  const follow = (url: string) => fetch(url.replace(APP_ORIGIN, s.origin), { redirect: 'manual' })

  it('signs in once: the cookie, a 303 to redirect_to_url; the same link again is refused; the secret is never logged', async () => {
    const userId = await createUser(s, 'magic@example.com', {})
    const created = await create({ email: 'magic@example.com', redirect_to_url: `${APP_ORIGIN}/welcome`, expires_in_hours: 2 })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const url = created.body.url as string
    assert.match(url, new RegExp(`^${APP_ORIGIN}/\\.gatehouse/magic/[A-Za-z0-9_-]{43}$`))
    const first = await follow(url)
    assert.deepEqual([first.status, first.headers.get('location')], [303, `${APP_ORIGIN}/welcome`])
    const session = sessionOf(first)
    assert.ok(session)
    const me = await fetch(`${s.origin}/me`, { headers: { cookie: `${COOKIE}=${session}` } })
    assert.equal(me.status, 200)
    assert.equal(s.upstream.last().headers['x-gatehouse-user-id'], userId)
    const again = await follow(url)
    assert.equal(again.status, 404)
    assert.deepEqual(again.headers.getSetCookie(), [])
    const secret = url.slice(url.lastIndexOf('/') + 1)
    assert.ok(!JSON.stringify(s.gateway.logs).includes(secret), 'the link is not logged')
    assert.ok(s.gateway.logs.some((l) => l.error === 'magic link refused: used_or_expired' && l.path === '/.gatehouse/magic/…'))
    assert.equal((await follow(`${APP_ORIGIN}/.gatehouse/magic/${'A'.repeat(43)}`)).status, 404)
    assert.equal((await fetch(url.replace(APP_ORIGIN, s.origin), { method: 'POST' })).status, 405)
  })

  it('refuses open-redirect targets at creation; a path or an allowed origin is fine', async () => {
    await createUser(s, 'redirect@example.com', {})
    for (const evil of [
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      `${APP_ORIGIN}@evil.example`,
      'javascript:alert(1)',
      'data:text/html,x',
    ]) {
      const refused = await create({ email: 'redirect@example.com', redirect_to_url: evil })
      assert.equal(refused.status, 400, evil)
      assert.match(JSON.stringify(refused.body), /redirect_to_url/)
    }
    const toPath = await create({ email: 'redirect@example.com', redirect_to_url: '/inbox' })
    assert.equal((await follow(toPath.body.url as string)).headers.get('location'), '/inbox')
    const noTarget = await create({ email: 'redirect@example.com' })
    assert.equal((await follow(noTarget.body.url as string)).headers.get('location'), '/')
  })

  it('creates the user for an unknown email by default (confirmed), or answers 404; a disabled user’s link is refused', async () => {
    const made = await create({ email: 'new-by-link@example.com' })
    assert.equal(made.status, 201)
    const user = await admin(s, 'GET', '/v1/users/email/new-by-link@example.com')
    assert.deepEqual([user.status, user.body.email_confirmed, user.body.has_password], [200, true, false])
    assert.equal((await create({ email: 'nobody@example.com', create_new_user_if_one_doesnt_exist: false })).status, 404)
    const disabled = await createUser(s, 'off@example.com', {})
    const link = await create({ email: 'off@example.com' })
    await admin(s, 'POST', `/v1/users/${disabled}/disable`)
    assert.equal((await follow(link.body.url as string)).status, 404)
  })
})

describe('sign-in failures are limited per account and per client', () => {
  const s = startForSuite({ per_account: '3/1m', per_client: '6/1m' })

  it('locks an account after its failures, even for the right password, with 429 and Retry-After; successes spend nothing', async () => {
    await createUser(s, 'locked@example.com')
    for (let i = 0; i < 3; i++) assert.equal((await login(s, { email: 'locked@example.com', password: PASSWORD })).status, 200)
    for (let i = 0; i < 3; i++) assert.equal((await login(s, { email: 'locked@example.com', password: 'wrong password' })).status, 401)
    const locked = await login(s, { email: 'LOCKED@example.com', password: PASSWORD })
    assert.equal(locked.status, 429)
    assert.ok(Number(locked.headers.get('retry-after')) >= 1)
    assert.match(locked.headers.get('content-type') ?? '', /problem\+json/)
  })

  it('locks a client address after its failures across accounts', async () => {
    // Three failures above are this client's too: three more on other emails use up its six.
    for (let i = 0; i < 3; i++) assert.equal((await login(s, { email: `spray-${i}@example.com`, password: 'guess guess' })).status, 401)
    const res = await login(s, { email: 'fresh@example.com', password: 'guess guess' })
    assert.equal(res.status, 429)
    assert.ok(Number(res.headers.get('retry-after')) >= 1)
  })
})
