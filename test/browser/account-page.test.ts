import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { adminClient } from '../support/admin.ts'
import type { AdminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startWebhookReceiver } from '../support/mail.ts'
import type { TestWebhookReceiver } from '../support/mail.ts'
import { installedBinary } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/**
 * The self-service page in a real browser (Debian's chromium driven by playwright-core) in front
 * of the real gateway and upstream: sign in on the page, create a key, copy it, use it through the
 * gateway, archive it on the page; a member whose role lacks the permission sees no org keys and
 * is refused when posting for the org; a form without the CSRF token is refused; the CSP holds
 * (no violation is reported). GATEHOUSE_SCREENSHOTS=1 writes docs/images/account-page*.png.
 */

const chromiumBinary = installedBinary('chromium', '/usr/bin/chromium')
const ADMIN_KEY = 'account-page-admin-key-0123456789'
const COOKIE = 'gh_session'
const PASSWORD = 'correct horse battery staple'
const SCREENSHOTS = process.env.GATEHOUSE_SCREENSHOTS === '1'
const WEBHOOK_SECRET = 'account-page-webhook-secret-0123'
/** The origin of the mailed links (end_users.public_url); the browser follows their path on the test's gateway. */
const PUBLIC_URL = 'https://app.example.com'
const BAD_CSRF_DETAIL = 'The form is missing its CSRF token, or it is not this session’s; reload the page'
const CREATE_KEY_PATH = '/.gatehouse/account/keys'
/** The few DOM members the tampering uses (the suite is type-checked without the DOM library). */
type FormField = { value: string; remove(): void; ownerDocument: { createElement(tag: 'option'): FormField } }
type OwnerSelect = FormField & { append(option: FormField): void }
const screenshotPath = (name: string) => fileURLToPath(new URL(`../../docs/images/${name}.png`, import.meta.url))

describe('the account page in a real browser', { skip: chromiumBinary.skip }, () => {
  let upstream: TestUpstream
  let mailer: TestWebhookReceiver
  let gateway: TestGateway
  let admin: AdminClient
  let browser: Browser
  let orgId: string
  let adaId: string
  /** Every console message that reports a Content-Security-Policy violation, on any page of the suite. */
  const violations: string[] = []

  before(async () => {
    upstream = await startUpstream()
    mailer = await startWebhookReceiver(WEBHOOK_SECRET)
    gateway = await startGateway({
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: 'sqlite:./gatehouse.db' },
      tokens: { local_issuer: true },
      end_users: { enabled: true, public_url: PUBLIC_URL, session: { cookie: COOKIE, duration: '1h' } },
      mail: { webhook: { url: mailer.url, secret: WEBHOOK_SECRET } },
      routes: [{ path: '/api/*', auth: 'authenticated', credentials_from: ['header', `cookie:${COOKIE}`] }],
    })
    admin = adminClient(() => gateway.adminUrl, ADMIN_KEY)
    adaId = await createUser('ada@example.com', 'Ada')
    const bobId = await createUser('bob@example.com', 'Bob')
    const org = await admin('POST', '/v1/orgs', { name: 'Acme' })
    assert.equal(org.status, 201, JSON.stringify(org.body))
    orgId = org.body.org_id as string
    assert.equal((await admin('POST', `/v1/orgs/${orgId}/members`, { user_id: adaId, role: 'Admin' })).status, 201)
    assert.equal((await admin('POST', `/v1/orgs/${orgId}/members`, { user_id: bobId, role: 'Member' })).status, 201)
    const orgKey = await admin('POST', '/v1/api_keys', { org_id: orgId, name: 'acme ci', expiration: 'one_year', scopes: ['deploy'] })
    assert.equal(orgKey.status, 201, JSON.stringify(orgKey.body))
    browser = await chromium.launch({
      executablePath: chromiumBinary.file!,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  })

  after(async () => {
    await browser?.close()
    await gateway?.close()
    await mailer?.close()
    await upstream?.close()
  })

  async function createUser(email: string, firstName: string): Promise<string> {
    const created = await admin('POST', '/v1/users', { email, email_confirmed: true, first_name: firstName, password: PASSWORD })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    return created.body.user_id as string
  }

  /** A fresh context (no cookies), its console watched for CSP violations. */
  async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } })
    const page = await context.newPage()
    page.on('console', (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) violations.push(message.text())
    })
    return { context, page }
  }

  /** The path of the link mailed to `to` (its origin is the public URL, not the test's gateway). */
  async function mailedPath(to: string): Promise<string> {
    const delivery = await mailer.waitFor((d) => d.payload.to === to)
    assert.ok(delivery.signatureValid)
    return new URL(String(delivery.payload.url)).pathname
  }

  /** A fresh context signed in on the page as `email`. */
  async function signedIn(email: string): Promise<{ context: BrowserContext; page: Page }> {
    const { context, page } = await freshPage()
    const first = await page.goto(`${gateway.url}/.gatehouse/account`)
    assert.equal(first?.status(), 200)
    assert.equal(await page.locator('h1').textContent(), 'Sign in')
    await page.fill('input[name=email]', email)
    await page.fill('input[name=password]', PASSWORD)
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account`), page.click('button:has-text("Sign in")')])
    assert.equal(await page.locator('h1').textContent(), 'API keys')
    return { context, page }
  }

  /**
   * Submits the page's create form as the browser would, after `tamper` changed it in the page:
   * the status, media type and detail of the problem the browser navigated to.
   */
  async function submitCreateForm(
    page: Page,
    name: string,
    tamper: (form: Locator) => Promise<void>,
  ): Promise<{ status: number; type: string | undefined; detail: string }> {
    await page.fill('input[name=name]', name)
    await tamper(page.locator(`form[action="${CREATE_KEY_PATH}"]`))
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(CREATE_KEY_PATH)),
      page.click('button:has-text("Create key")'),
    ])
    const { detail } = (await answer.json()) as { detail: string }
    return { status: answer.status(), type: answer.headers()['content-type'], detail }
  }

  const useKey = (key: string) => fetch(`${gateway.url}/api/things`, { headers: { 'x-api-key': key } })

  it('signs in, creates a key shown once, copies it, uses it through the gateway, archives it on the page', async () => {
    const { context, page } = await signedIn('ada@example.com')
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.url })

    const answer = await page.goto(`${gateway.url}/.gatehouse/account`)
    const headers = answer!.headers()
    assert.match(headers['content-security-policy'] ?? '', /^default-src 'none'; style-src 'self'; script-src 'self';/)
    assert.deepEqual(
      [headers['x-frame-options'], headers['x-content-type-options'], headers['referrer-policy'], headers['cache-control']],
      ['DENY', 'nosniff', 'no-referrer', 'no-store'],
    )
    assert.equal(await page.locator('h2', { hasText: 'Keys of Acme' }).count(), 1, 'an Admin sees the org keys')

    await page.fill('input[name=name]', 'deploy bot')
    await page.selectOption('select[name=expiration]', 'one_month')
    await page.selectOption('select[name=owner]', 'me')
    await page.fill('input[name=scopes]', 'read write')
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account`), page.click('button:has-text("Create key")')])
    const secret = await page.inputValue('#new-key-secret')
    assert.match(secret, /^gtu_[A-Za-z0-9]+$/)
    assert.ok(!page.url().includes(secret), 'the secret is not in the URL')
    if (SCREENSHOTS) await page.locator('#new-key').screenshot({ path: screenshotPath('account-page-new-key') })

    await page.click('button[data-copy]')
    await page.locator('button[data-copy]', { hasText: 'Copied' }).waitFor()
    // A string: the suite is type-checked without the DOM library.
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret, 'the copy button copied the secret')

    const used = await useKey(secret)
    assert.equal(used.status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-user-id'], adaId)

    await page.reload()
    assert.equal(await page.locator('#new-key-secret').count(), 0, 'the secret is shown once')
    const row = page.locator('tr', { hasText: 'deploy bot' })
    assert.equal(await row.count(), 1)
    assert.match((await row.textContent()) ?? '', /read write/)
    assert.ok(!(await page.content()).includes(secret), 'the listed key shows its display fragment only')
    if (SCREENSHOTS) await page.screenshot({ path: screenshotPath('account-page'), fullPage: true })

    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account`), row.locator('button:has-text("Archive")').click()])
    assert.equal(await page.locator('tr', { hasText: 'deploy bot' }).count(), 0, 'the archived key is gone from the page')
    assert.equal((await useKey(secret)).status, 401, 'the archived key is refused at once')
    await context.close()
  })

  it('an Admin creates a key for the org it manages', async () => {
    const { context, page } = await signedIn('ada@example.com')
    await page.fill('input[name=name]', 'acme deploy')
    await page.selectOption('select[name=owner]', orgId)
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account`), page.click('button:has-text("Create key")')])
    const secret = await page.inputValue('#new-key-secret')
    assert.match(secret, /^gto_/)
    const orgSection = page.locator('section', { has: page.locator('h2', { hasText: 'Keys of Acme' }) })
    assert.equal(await orgSection.locator('tr', { hasText: 'acme deploy' }).count(), 1)
    assert.equal((await useKey(secret)).status, 200)
    assert.equal(upstream.last().headers['x-gatehouse-org-id'], orgId)
    await context.close()
  })

  it('a member whose role lacks the permission sees no org keys, and a crafted post for the org is 403', async () => {
    const { context, page } = await signedIn('bob@example.com')
    assert.equal(await page.locator('h2', { hasText: 'Keys of Acme' }).count(), 0)
    assert.deepEqual(await page.locator('select[name=owner] option').allTextContents(), ['Me'])
    // The page offers no such owner: the crafted form adds it, with the session's own CSRF token.
    const crafted = await submitCreateForm(page, 'sneaky', (form) =>
      form.locator('select[name=owner]').evaluate((select: OwnerSelect, org) => {
        const option = select.ownerDocument.createElement('option')
        option.value = org
        select.append(option)
        select.value = org
      }, orgId),
    )
    assert.deepEqual(crafted, { status: 403, type: 'application/problem+json', detail: `You may not manage the API keys of org ${orgId}` })
    const orgKeys = await admin('GET', `/v1/api_keys?org_id=${orgId}`)
    assert.ok(!(orgKeys.body.api_keys as { name: string }[]).some((k) => k.name === 'sneaky'), 'no key was made')
    await context.close()
  })

  it('a form post without the CSRF token, or with another session’s, is 403', async () => {
    const { context, page } = await signedIn('ada@example.com')
    const csrfField = (form: Locator) => form.locator('input[name=csrf_token]')
    const missing = await submitCreateForm(page, 'forged', (form) => csrfField(form).evaluate((input: FormField) => input.remove()))
    const refused = { status: 403, type: 'application/problem+json', detail: BAD_CSRF_DETAIL }
    assert.deepEqual(missing, refused)
    await page.goto(`${gateway.url}/.gatehouse/account`)
    const wrong = await submitCreateForm(page, 'forged', (form) =>
      csrfField(form).evaluate((input: FormField) => {
        input.value = 'A'.repeat(43)
      }),
    )
    assert.deepEqual(wrong, refused)
    const keys = await admin('GET', `/v1/api_keys?user_id=${adaId}`)
    assert.ok(!(keys.body.api_keys as { name: string }[]).some((k) => k.name === 'forged'), 'no key was made')
    await context.close()
  })

  it('a wrong password comes back to the sign-in form with its message', async () => {
    const { context, page } = await freshPage()
    await page.goto(`${gateway.url}/.gatehouse/account`)
    await page.fill('input[name=email]', 'ada@example.com')
    await page.fill('input[name=password]', 'not the password')
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account?sign_in=failed`), page.click('button:has-text("Sign in")')])
    assert.equal(await page.locator('section.notice.refused').textContent(), 'Invalid email or password.')
    assert.equal(await page.locator('input[name=password]').count(), 1)
    await context.close()
  })

  it('signs in by a link mailed from the page', async () => {
    const { context, page } = await freshPage()
    await page.goto(`${gateway.url}/.gatehouse/account`)
    const linkForm = page.locator('form[action="/.gatehouse/magic"]')
    await linkForm.locator('input[name=email]').fill('ada@example.com')
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account?sent=1`), linkForm.locator('button').click()])
    assert.match((await page.locator('section.notice').textContent()) ?? '', /sign-in link is on its way/)
    await page.goto(gateway.url + (await mailedPath('ada@example.com')))
    assert.equal(page.url(), `${gateway.url}/.gatehouse/account`)
    assert.equal(await page.locator('h1').textContent(), 'API keys')
    await context.close()
  })

  it('accepts an invitation on its page by signing up, and lands signed in on the account page', async () => {
    const invited = await admin('POST', '/v1/invites', { org_id: orgId, email: 'carol@example.com', role: 'Admin' })
    assert.equal(invited.status, 201, JSON.stringify(invited.body))
    const { context, page } = await freshPage()
    const answer = await page.goto(gateway.url + (await mailedPath('carol@example.com')))
    assert.match(answer!.headers()['content-security-policy'] ?? '', /^default-src 'none'/)
    await page.fill('input[name=first_name]', 'Carol')
    await page.fill('input[name=password]', PASSWORD)
    await Promise.all([page.waitForURL(`${gateway.url}/.gatehouse/account`), page.click('button:has-text("Create my account")')])
    assert.equal(await page.locator('h1').textContent(), 'API keys')
    assert.equal(await page.locator('h2', { hasText: 'Keys of Acme' }).count(), 1, 'the new Admin manages the org keys')
    await context.close()
  })

  it('no page reported a Content-Security-Policy violation', () => {
    assert.deepEqual(violations, [])
  })
})
