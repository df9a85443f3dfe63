import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminClient } from '../support/admin.ts'
import type { AdminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/**
 * The account page's HTTP contract through the real gateway, below what a browser shows: the
 * assets, the methods, the same-origin and session checks of its form posts, the ownership rule
 * (another user's key; a role taken away after sign-in), the one-time secret bound to its user,
 * sign-out, and the invitation page. The browser suite (test/browser) drives the same page in chromium.
 */

const ADMIN_KEY = 'account-page-e2e-admin-key-012345'
const COOKIE = 'gh_session'
const PASSWORD = 'correct horse battery staple'
const ACCOUNT = '/.gatehouse/account'

type Browserish = { cookie: string; csrf: string; html: string }

describe('the account page over HTTP', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  let admin: AdminClient
  let orgId: string
  let adaId: string
  let bobId: string

  before(async () => {
    upstream = await startUpstream()
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./gatehouse.db' },
      tokens: { local_issuer: true },
      end_users: { enabled: true, session: { cookie: COOKIE, duration: '1h' } },
      routes: [{ path: '/api/*', auth: 'authenticated' }],
    })
    admin = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    adaId = await createUser('ada@example.com')
    bobId = await createUser('bob@example.com')
    const org = await admin('POST', '/v1/orgs', { name: 'Acme' })
    orgId = org.body.org_id as string
    assert.equal((await admin('POST', `/v1/orgs/${orgId}/members`, { user_id: adaId, role: 'Admin' })).status, 201)
  })

  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  async function createUser(email: string): Promise<string> {
    const created = await admin('POST', '/v1/users', { email, email_confirmed: true, password: PASSWORD })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    return created.body.user_id as string
  }

  /** Signs in with the page's form and reads the page as the browser would: the session cookie and the forms' CSRF token. */
  async function signIn(email: string): Promise<Browserish> {
    const res = await fetch(`${gateway.url}/.gatehouse/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gateway.url },
      body: new URLSearchParams({ email, password: PASSWORD, redirect_to: ACCOUNT }).toString(),
      redirect: 'manual',
    })
    assert.deepEqual([res.status, res.headers.get('location')], [303, ACCOUNT])
    const cookie = res.headers.getSetCookie()[0]!.split(';', 1)[0]!
    const html = await (await fetch(gateway.url + ACCOUNT, { headers: { cookie } })).text()
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1]
    assert.ok(csrf, 'the signed-in page carries a CSRF token')
    return { cookie, csrf, html }
  }

  function post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(gateway.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gateway.url, ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    })
  }

  const createKey = (as: Browserish, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    post(`${ACCOUNT}/keys`, { csrf_token: as.csrf, expiration: 'never', owner: 'me', ...fields }, { cookie: as.cookie, ...headers })

  /** The secret a create's one-time cookie shows on the next page of the cookie's holder (`as`), if any. */
  async function shownSecret(created: Response, as: Browserish): Promise<string | undefined> {
    const oneTime = created.headers.getSetCookie()[0]!.split(';', 1)[0]!
    const html = await (await fetch(gateway.url + ACCOUNT, { headers: { cookie: `${as.cookie}; ${oneTime}` } })).text()
    return /id="new-key-secret"[^>]*value="([^"]+)"/.exec(html)?.[1]
  }

  it('a refused form sign-in comes back to the page, which says so: one answer for a wrong password and an unknown email', async () => {
    const refusedAs = async (email: string) => {
      const res = await post('/.gatehouse/login', { email, password: 'not the password', redirect_to: ACCOUNT })
      assert.deepEqual(res.headers.getSetCookie(), [])
      return [res.status, res.headers.get('location')]
    }
    const wrongPassword = await refusedAs('ada@example.com')
    assert.deepEqual(wrongPassword, [303, `${ACCOUNT}?sign_in=failed`])
    assert.deepEqual(await refusedAs('nobody@example.com'), wrongPassword)
    const page = await (await fetch(`${gateway.url}${ACCOUNT}?sign_in=failed`)).text()
    assert.match(page, /Invalid email or password\./)
    assert.match(await (await fetch(`${gateway.url}${ACCOUNT}?sign_in=too_many`)).text(), /Too many failed sign-ins/)
    assert.ok(
      !(await (await fetch(`${gateway.url}${ACCOUNT}?sign_in=other`)).text()).includes('class="notice'),
      'no notice for anything else',
    )
    // The account's budget (login_failures.per_account, 5/15m) spent: the sixth is told to wait.
    for (let i = 0; i < 5; i++) assert.deepEqual(await refusedAs('locked@example.com'), wrongPassword)
    assert.deepEqual(await refusedAs('locked@example.com'), [303, `${ACCOUNT}?sign_in=too_many`])
  })

  it('serves its assets versioned and immutable; any other name under the prefix is not found', async () => {
    const page = await (await fetch(gateway.url + ACCOUNT)).text()
    const css = /href="(\/\.gatehouse\/assets\/gatehouse\.[0-9a-f]{16}\.css)"/.exec(page)?.[1]
    const js = /src="(\/\.gatehouse\/assets\/copy\.[0-9a-f]{16}\.js)"/.exec(page)?.[1]
    assert.ok(css && js, 'the page links its stylesheet and script by content hash')
    const sheet = await fetch(gateway.url + css)
    assert.deepEqual(
      [sheet.status, sheet.headers.get('content-type'), sheet.headers.get('cache-control'), sheet.headers.get('x-content-type-options')],
      [200, 'text/css; charset=utf-8', 'public, max-age=31536000, immutable', 'nosniff'],
    )
    assert.match(await sheet.text(), /^:root \{/)
    assert.equal((await fetch(gateway.url + js)).headers.get('content-type'), 'text/javascript; charset=utf-8')
    assert.equal((await fetch(`${gateway.url}/.gatehouse/assets/gatehouse.0000000000000000.css`)).status, 404)
  })

  it('answers GET and HEAD on the page and POST on its actions, 405 with Allow otherwise', async () => {
    const head = await fetch(gateway.url + ACCOUNT, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.match(head.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
    const postPage = await fetch(gateway.url + ACCOUNT, { method: 'POST' })
    assert.deepEqual([postPage.status, postPage.headers.get('allow')], [405, 'GET, HEAD'])
    const getAction = await fetch(`${gateway.url}${ACCOUNT}/keys`)
    assert.deepEqual([getAction.status, getAction.headers.get('allow')], [405, 'POST'])
    assert.equal(getAction.headers.get('content-type'), 'application/problem+json')
    // An invitation's URL is the page's GET and the sign-in door's POST: its 405 names both.
    const deleteInvite = await fetch(`${gateway.url}/.gatehouse/invite/${'a'.repeat(43)}`, { method: 'DELETE' })
    assert.deepEqual([deleteInvite.status, deleteInvite.headers.get('allow')], [405, 'GET, HEAD, POST'])
  })

  it('a form post from another site is 403, one without a session 401, either way nothing is made', async () => {
    const ada = await signIn('ada@example.com')
    const crossSite = await createKey(ada, { name: 'cross-site' }, { origin: 'https://evil.example' })
    assert.equal(crossSite.status, 403)
    assert.equal(
      (await createKey(ada, { name: 'cross-site' }, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status,
      403,
    )
    const noSession = await post(`${ACCOUNT}/keys`, { csrf_token: ada.csrf, name: 'no session', expiration: 'never' })
    assert.equal(noSession.status, 401)
    const keys = await admin('GET', `/v1/api_keys?user_id=${adaId}`)
    assert.deepEqual(keys.body.api_keys, [])
  })

  it('refuses a bad form with 400 naming the field', async () => {
    const ada = await signIn('ada@example.com')
    const noName = await createKey(ada, { name: '  ' })
    assert.equal(noName.status, 400)
    assert.match(((await noName.json()) as { detail: string }).detail, /name/)
    const badExpiry = await createKey(ada, { name: 'x', expiration: 'forever' })
    assert.equal(badExpiry.status, 400)
    assert.match(((await badExpiry.json()) as { detail: string }).detail, /expiration must be one of/)
  })

  it("another user's key cannot be archived; a role taken away after sign-in stops the org's keys at once", async () => {
    const bob = await signIn('bob@example.com')
    const bobsKey = await admin('POST', '/v1/api_keys', { user_id: bobId, name: 'bob own' })
    const ada = await signIn('ada@example.com')
    const archive = await post(
      `${ACCOUNT}/keys/archive`,
      { csrf_token: ada.csrf, api_key_id: bobsKey.body.api_key_id as string },
      { cookie: ada.cookie },
    )
    assert.equal(archive.status, 403)
    assert.equal((await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': bobsKey.body.api_key_token as string } })).status, 200)
    assert.ok(!bob.html.includes('bob own'), 'listed before it was made')

    const forOrg = await createKey(ada, { name: 'acme 1', owner: orgId })
    assert.equal(forOrg.status, 303)
    assert.match((await shownSecret(forOrg, ada)) ?? '', /^gto_/)
    assert.equal((await admin('PUT', `/v1/orgs/${orgId}/members/${adaId}`, { role: 'Member' })).status, 200)
    // Ada's session token still says Admin; the directory's role decides.
    const afterDemotion = await createKey(ada, { name: 'acme 2', owner: orgId })
    assert.equal(afterDemotion.status, 403)
    const page = await (await fetch(gateway.url + ACCOUNT, { headers: { cookie: ada.cookie } })).text()
    assert.ok(!page.includes('Keys of Acme'), 'the org keys are no longer listed')
    assert.equal((await admin('PUT', `/v1/orgs/${orgId}/members/${adaId}`, { role: 'Admin' })).status, 200)
  })

  it("shows a created key's secret once, only to its creator, never in a URL", async () => {
    const ada = await signIn('ada@example.com')
    const created = await createKey(ada, { name: 'once' })
    assert.deepEqual([created.status, created.headers.get('location'), created.headers.get('cache-control')], [303, ACCOUNT, 'no-store'])
    const [oneTime] = created.headers.getSetCookie()
    assert.match(
      oneTime ?? '',
      /^gatehouse_new_key=[A-Za-z0-9_-]+; Max-Age=120; Path=\/\.gatehouse\/account; HttpOnly; Secure; SameSite=Strict$/,
    )
    const bob = await signIn('bob@example.com')
    assert.equal(await shownSecret(created, bob), undefined, "another user's session cannot open it")
    const secret = await shownSecret(created, ada)
    assert.match(secret ?? '', /^gtu_/)
    assert.ok(!oneTime!.includes(secret!), 'the cookie holds it encrypted')
    assert.equal((await fetch(`${gateway.url}/api/x`, { headers: { 'x-api-key': secret! } })).status, 200)
  })

  it('sign-out expires the session and one-time cookies and goes back to the page; a disabled user sees the sign-in form', async () => {
    const ada = await signIn('ada@example.com')
    const out = await post(`${ACCOUNT}/sign-out`, { csrf_token: ada.csrf }, { cookie: ada.cookie })
    assert.deepEqual([out.status, out.headers.get('location')], [303, ACCOUNT])
    const cleared = out.headers.getSetCookie()
    assert.ok(cleared.some((c) => c.startsWith(`${COOKIE}=; Max-Age=0;`)))
    assert.ok(cleared.some((c) => c.startsWith('gatehouse_new_key=; Max-Age=0;')))
    const bob = await signIn('bob@example.com')
    assert.equal((await admin('POST', `/v1/users/${bobId}/disable`)).status, 200)
    const page = await (await fetch(gateway.url + ACCOUNT, { headers: { cookie: bob.cookie } })).text()
    assert.match(page, /<h1>Sign in<\/h1>/)
    assert.ok(!page.includes('mail me'), 'no sign-in link is offered without mail')
  })

  it('a config reload keeps the sessions and CSRF tokens of the pages (their secrets are built once)', async () => {
    const ada = await signIn('ada@example.com')
    assert.equal((await gateway.running.reload()).outcome, 'applied')
    const created = await createKey(ada, { name: 'after reload' })
    assert.equal(created.status, 303)
    assert.match((await shownSecret(created, ada)) ?? '', /^gtu_/)
  })

  it("an invitation's page posts its accept form to its own URL; the secret stays out of the log", async () => {
    const secret = 'aB3-invitation_secret_0123456789'
    const anonymous = await fetch(`${gateway.url}/.gatehouse/invite/${secret}`)
    assert.equal(anonymous.status, 200)
    assert.match(anonymous.headers.get('content-security-policy') ?? '', /^default-src 'none'/)
    const html = await anonymous.text()
    assert.ok(html.includes(`action="/.gatehouse/invite/${secret}"`))
    assert.match(html, /name="password"/)
    const ada = await signIn('ada@example.com')
    const signedIn = await (await fetch(`${gateway.url}/.gatehouse/invite/${secret}`, { headers: { cookie: ada.cookie } })).text()
    assert.match(signedIn, /Signed in as <strong>ada@example.com<\/strong>/)
    assert.ok(!JSON.stringify(gateway.logs).includes(secret), 'the secret is in no log line')
    assert.ok(
      gateway.logs.some((line) => line.path === '/.gatehouse/invite/…' && line.status === 200),
      'the access log names the path without it',
    )
  })
})
