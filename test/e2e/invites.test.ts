import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import Sqlite from 'better-sqlite3'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startSmtpServer, startWebhookReceiver } from '../support/mail.ts'
import type { TestSmtpServer, TestWebhookReceiver } from '../support/mail.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/**
 * Invitations and mail through the real gateway: invites made over the admin API arrive at a
 * real SMTP server (the smtp-server package in its own process) or at a real HTTP webhook
 * receiver that checks the signature; the link from the mail is accepted on the gateway by
 * signing up or while signed in, and every refusal (expired, revoked, used, a full org, another
 * email, a cross-site post) is checked, as is POST /.gatehouse/magic. No link reaches the log.
 */

const ADMIN_KEY = 'invites-admin-key-0123456789'
const COOKIE = 'gh_session'
const PASSWORD = 'correct horse battery staple'
const APP_ORIGIN = 'https://app.example.com'
const WEBHOOK_SECRET = 'whsec-0123456789abcdef0123456789abcdef'
const INVITE_LINK = /https:\/\/app\.example\.com\/\.gatehouse\/invite\/([A-Za-z0-9_-]{43})/
const MAGIC_LINK = /https:\/\/app\.example\.com\/\.gatehouse\/magic\/([A-Za-z0-9_-]{43})/

type Json = Record<string, unknown>
type Started = { gateway: TestGateway; upstream: TestUpstream }

async function start(mail: Json | undefined, extra: Json = {}): Promise<Started> {
  const upstream = await startUpstream()
  const gateway = await startGateway({
    admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
    upstream: { url: upstream.url },
    store: { url: 'sqlite:./gatehouse.db' },
    tokens: { local_issuer: true },
    end_users: { enabled: true, public_url: APP_ORIGIN, session: { cookie: COOKIE, duration: '1h' } },
    ...(mail ? { mail } : {}),
    routes: [{ path: '/me', auth: 'user', credentials_from: ['header', `cookie:${COOKIE}`] }],
    ...extra,
  })
  return { gateway, upstream }
}

async function stop(s: Started): Promise<void> {
  await s.gateway.close()
  await s.upstream.close()
}

async function admin(s: Started, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(s.gateway.adminUrl + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} }
}

async function createOrg(s: Started, body: Json = {}): Promise<string> {
  const created = await admin(s, 'POST', '/v1/orgs', { name: `Org ${Math.random().toString(36).slice(2, 8)}`, ...body })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return created.body.org_id as string
}

async function createUser(s: Started, email: string): Promise<string> {
  const created = await admin(s, 'POST', '/v1/users', { email, email_confirmed: true, password: PASSWORD })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  return created.body.user_id as string
}

async function invite(s: Started, orgId: string, email: string, role = 'Member'): Promise<{ status: number; body: Json }> {
  return admin(s, 'POST', '/v1/invites', { org_id: orgId, email, role })
}

/** The invite's secret, from the URL the admin API answered. */
const secretOf = (url: unknown): string => INVITE_LINK.exec(String(url))![1]!

function accept(s: Started, secret: string, body: Json, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.gateway.url}/.gatehouse/invite/${secret}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: s.gateway.url, ...headers },
    body: JSON.stringify(body),
    redirect: 'manual',
  })
}

async function signIn(s: Started, email: string): Promise<string> {
  const res = await fetch(`${s.gateway.url}/.gatehouse/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: s.gateway.url },
    body: JSON.stringify({ email, password: PASSWORD, session: 'cookie' }),
  })
  assert.equal(res.status, 200)
  return sessionOf(res)!
}

const sessionOf = (res: Response): string | undefined => {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))
  return line?.slice(COOKIE.length + 1).split(';', 1)[0]
}

async function memberRole(s: Started, orgId: string, userId: string): Promise<string | undefined> {
  const users = await admin(s, 'GET', `/v1/orgs/${orgId}/users?page_size=100`)
  return (users.body.users as { user_id: string; role: string }[]).find((u) => u.user_id === userId)?.role
}

describe('invitations mailed over SMTP and accepted on the gateway', () => {
  let s: Started
  let smtp: TestSmtpServer
  before(async () => {
    smtp = await startSmtpServer()
    s = await start({ smtp: { url: smtp.url, from: 'Gatehouse <no-reply@example.com>' } })
  })
  after(async () => {
    await stop(s)
    await smtp.close()
  })

  it('the invite mail arrives; its link signs up a new user, who is then a member with the role and can sign in; a second accept is refused', async () => {
    const orgId = await createOrg(s)
    const made = await invite(s, orgId, 'New.Person@Example.com', 'Admin')
    assert.equal(made.status, 201, JSON.stringify(made.body))
    assert.equal(made.body.invitee_email, 'new.person@example.com', 'the email is kept lowercased')
    assert.equal(made.body.mailed, true)
    const mail = await smtp.waitFor((m) => m.to.includes('new.person@example.com'))
    assert.equal(mail.from, 'no-reply@example.com')
    assert.match(mail.subject, /invited/)
    const link = INVITE_LINK.exec(mail.text)
    assert.ok(link, `the text part carries the link: ${mail.text}`)
    assert.equal(link[0], made.body.url, 'the mailed link is the one the admin API answered')
    assert.ok(mail.html.includes(link[0]), 'the HTML part links it too')

    const res = await accept(s, link[1]!, { password: PASSWORD, first_name: 'New' })
    assert.equal(res.status, 200)
    const answer = (await res.json()) as Json
    assert.deepEqual(Object.keys(answer).sort(), ['org_id', 'role', 'user_id'])
    assert.equal(answer.org_id, orgId)
    assert.equal(answer.role, 'Admin')
    const cookie = sessionOf(res)
    assert.ok(cookie, 'the answer signs the new user in')
    const me = await fetch(`${s.gateway.url}/me`, { headers: { cookie: `${COOKIE}=${cookie}` } })
    assert.equal(me.status, 200)
    assert.equal(s.upstream.last().headers['x-gatehouse-user-id'], answer.user_id)

    assert.equal(await memberRole(s, orgId, answer.user_id as string), 'Admin')
    const user = await admin(s, 'GET', `/v1/users/${answer.user_id as string}`)
    assert.equal(user.body.email_confirmed, true, 'the mailed link proves the address')
    assert.equal(user.body.first_name, 'New')
    await signIn(s, 'new.person@example.com')

    const again = await accept(s, link[1]!, { password: PASSWORD })
    assert.equal(again.status, 404)
    assert.equal(again.headers.get('content-type'), 'application/problem+json')
    const pending = await admin(s, 'GET', `/v1/invites?org_id=${orgId}`)
    assert.equal(pending.body.total_invites, 0, 'an accepted invite is no longer pending')

    const logged = JSON.stringify(s.gateway.logs)
    assert.ok(!logged.includes(link[1]!), 'the secret is never logged')
    const access = s.gateway.logs.filter((l) => l.msg === 'request' && String(l.path).startsWith('/.gatehouse/invite/'))
    assert.ok(access.length >= 2 && access.every((l) => l.path === '/.gatehouse/invite/…'), JSON.stringify(access))
    const sent = s.gateway.logs.find((l) => l.msg === 'mail sent' && l.mail === 'invite')
    assert.ok(sent, 'the delivery is logged')
    assert.equal(sent.to_domain, 'example.com')
    assert.ok(!JSON.stringify(sent).includes('new.person'), 'the recipient is logged by domain and hash only')
  })

  it('a signed-in user accepts with a form post: 303 to the account page with a fresh session listing the org', async () => {
    const orgId = await createOrg(s)
    const userId = await createUser(s, 'member@example.com')
    const made = await invite(s, orgId, 'member@example.com')
    const cookie = await signIn(s, 'member@example.com')
    const res = await fetch(`${s.gateway.url}/.gatehouse/invite/${secretOf(made.body.url)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.gateway.url, cookie: `${COOKIE}=${cookie}` },
      body: '',
      redirect: 'manual',
    })
    assert.equal(res.status, 303)
    assert.equal(res.headers.get('location'), '/.gatehouse/account')
    assert.ok(sessionOf(res), 'a fresh session cookie')
    assert.equal(await memberRole(s, orgId, userId), 'Member')
  })

  it('an existing user must sign in first; a signed-in user with another email is refused', async () => {
    const orgId = await createOrg(s)
    await createUser(s, 'exists@example.com')
    const made = await invite(s, orgId, 'exists@example.com')
    const signUp = await accept(s, secretOf(made.body.url), { password: PASSWORD })
    assert.equal(signUp.status, 409)
    assert.equal(((await signUp.json()) as Json).error_code, 'sign_in_first')

    await createUser(s, 'other@example.com')
    const cookie = await signIn(s, 'other@example.com')
    const mismatch = await accept(s, secretOf(made.body.url), {}, { cookie: `${COOKIE}=${cookie}` })
    assert.equal(mismatch.status, 403)
    assert.equal(((await mismatch.json()) as Json).error_code, 'email_mismatch')
    const pending = await admin(s, 'GET', `/v1/invites?org_id=${orgId}`)
    assert.equal(pending.body.total_invites, 1, 'a refused acceptance leaves the invite pending')
  })

  it('an expired, a revoked or a replaced invite is refused with the same 404', async () => {
    const orgId = await createOrg(s)
    const expired = await invite(s, orgId, 'late@example.com')
    const db = new Sqlite(join(s.gateway.dir, 'gatehouse.db'))
    try {
      db.prepare('update invites set expires_at = ? where email = ?').run(Math.floor(Date.now() / 1000) - 1, 'late@example.com')
    } finally {
      db.close()
    }
    const revoked = await invite(s, orgId, 'revoked@example.com')
    assert.equal((await admin(s, 'DELETE', `/v1/orgs/${orgId}/invites/revoked@example.com`)).status, 204)
    assert.equal((await admin(s, 'DELETE', `/v1/orgs/${orgId}/invites/revoked@example.com`)).status, 404)
    const first = await invite(s, orgId, 'twice@example.com', 'Member')
    const second = await invite(s, orgId, 'twice@example.com', 'Admin')
    const bodies = []
    for (const made of [expired, revoked, first]) {
      const res = await accept(s, secretOf(made.body.url), { password: PASSWORD })
      assert.equal(res.status, 404)
      bodies.push(await res.json())
    }
    assert.deepEqual(bodies[0], bodies[1])
    assert.deepEqual(bodies[1], bodies[2])
    const pending = await admin(s, 'GET', `/v1/invites?org_id=${orgId}`)
    assert.deepEqual(
      (pending.body.invites as Json[]).map((i) => [i.invitee_email, i.role_in_org]),
      [['twice@example.com', 'Admin']],
      'inviting again replaced the first invite; the expired and revoked ones are not pending',
    )
    const res = await accept(s, secretOf(second.body.url), { password: PASSWORD })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as Json).role, 'Admin')
  })

  it('max_users and the domain rule refuse at creation and again at acceptance', async () => {
    const full = await createOrg(s, { max_users: 1 })
    const ownerId = await createUser(s, 'owner@full.example')
    const early = await invite(s, full, 'early@example.com')
    assert.equal(early.status, 201)
    assert.equal((await admin(s, 'POST', `/v1/orgs/${full}/members`, { user_id: ownerId, role: 'Owner' })).status, 201)
    const refused = await invite(s, full, 'late@example.com')
    assert.equal(refused.status, 409)
    assert.equal(refused.body.error_code, 'org_full')
    const res = await accept(s, secretOf(early.body.url), { password: PASSWORD })
    assert.equal(res.status, 409)
    assert.equal(((await res.json()) as Json).error_code, 'org_full')
    assert.equal((await admin(s, 'GET', '/v1/users/email/early@example.com')).status, 404, 'the refused sign-up created no user')

    const restricted = await createOrg(s, { domain: 'acme.example', members_must_have_matching_domain: true })
    const outside = await invite(s, restricted, 'someone@elsewhere.example')
    assert.equal(outside.status, 403)
    assert.equal(outside.body.error_code, 'domain_not_allowed')
    assert.equal((await invite(s, restricted, 'someone@acme.example')).status, 201)
    assert.equal((await invite(s, restricted, 'someone@acme.example', 'NoSuchRole')).status, 400)
    const memberId = await createUser(s, 'already@example.com')
    const org = await createOrg(s)
    await admin(s, 'POST', `/v1/orgs/${org}/members`, { user_id: memberId, role: 'Member' })
    const already = await invite(s, org, 'Already@example.com')
    assert.equal(already.status, 409)
    assert.equal(already.body.error_code, 'already_member')
  })

  it('a recipient the SMTP server refuses makes the invite call 502, the refusal logged by its code', async () => {
    const orgId = await createOrg(s)
    const made = await invite(s, orgId, 'refused@example.com')
    assert.equal(made.status, 502)
    assert.equal(made.body.type, 'urn:gatehouse:problem:bad-gateway')
    assert.ok(s.gateway.logs.some((l) => l.msg === 'mail not sent' && l.err === 'the SMTP server refused the mail (550)'))
  })

  it('a cross-site acceptance is refused before anything is read', async () => {
    const orgId = await createOrg(s)
    const made = await invite(s, orgId, 'csrf@example.com')
    const res = await accept(s, secretOf(made.body.url), { password: PASSWORD }, { origin: 'https://evil.example' })
    assert.equal(res.status, 403)
    const ok = await accept(s, secretOf(made.body.url), { password: PASSWORD })
    assert.equal(ok.status, 200, 'the invite is still usable')
  })

  it('POST /.gatehouse/magic mails a link to a known email, answers an unknown one the same, and the link works once', async () => {
    await createUser(s, 'magic@example.com')
    const ask = (email: string) =>
      fetch(`${s.gateway.url}/.gatehouse/magic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: s.gateway.url },
        body: JSON.stringify({ email }),
      })
    const known = await ask('magic@example.com')
    const unknown = await ask('nobody@example.com')
    assert.equal(known.status, 202)
    assert.equal(unknown.status, 202)
    assert.deepEqual(await known.json(), await unknown.json())
    const mail = await smtp.waitFor((m) => m.to.includes('magic@example.com'))
    const link = MAGIC_LINK.exec(mail.text)
    assert.ok(link, mail.text)
    const first = await fetch(`${s.gateway.url}/.gatehouse/magic/${link[1]!}`, { redirect: 'manual' })
    assert.equal(first.status, 303)
    assert.ok(sessionOf(first))
    const second = await fetch(`${s.gateway.url}/.gatehouse/magic/${link[1]!}`, { redirect: 'manual' })
    assert.equal(second.status, 404)

    const form = await fetch(`${s.gateway.url}/.gatehouse/magic`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.gateway.url },
      body: 'email=nobody%40example.com',
      redirect: 'manual',
    })
    assert.equal(form.status, 303)
    assert.equal(form.headers.get('location'), '/.gatehouse/account?sent=1')
    const crossSite = await fetch(`${s.gateway.url}/.gatehouse/magic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ email: 'magic@example.com' }),
    })
    assert.equal(crossSite.status, 403)
    // Give a mail to the unknown address the time to arrive, had one been sent.
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.ok(!smtp.received.some((m) => m.to.includes('nobody@example.com')), 'no mail to an unknown email')
    assert.ok(!JSON.stringify(s.gateway.logs).includes(link[1]!), 'the magic link is never logged')
  })

  it('POST /.gatehouse/magic spends the failed-login budgets: the account’s runs out first, known email or not', async () => {
    const ask = () =>
      fetch(`${s.gateway.url}/.gatehouse/magic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: s.gateway.url },
        body: JSON.stringify({ email: 'flood@example.com' }),
      })
    // login_failures.per_account is 5/15m by default.
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await ask()).status)
    assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429])
  })
})

describe('invitations mailed to a signed webhook', () => {
  let s: Started
  let receiver: TestWebhookReceiver
  before(async () => {
    receiver = await startWebhookReceiver(WEBHOOK_SECRET)
    s = await start({ webhook: { url: receiver.url, secret: WEBHOOK_SECRET, timeout: '2s' } })
  })
  after(async () => {
    await stop(s)
    await receiver.close()
  })

  it('the delivery is a JSON POST the receiver verifies by its HMAC signature; its link is accepted', async () => {
    const orgId = await createOrg(s, { name: 'Webhooked' })
    const made = await invite(s, orgId, 'hook@example.com', 'Owner')
    assert.equal(made.status, 201)
    const delivery = await receiver.waitFor((d) => d.payload.to === 'hook@example.com')
    assert.equal(delivery.signatureValid, true, delivery.signature)
    assert.match(delivery.signature, /^t=\d+,v1=[0-9a-f]{64}$/)
    assert.deepEqual(delivery.payload, {
      type: 'invite',
      to: 'hook@example.com',
      url: made.body.url,
      expires_at: made.body.expires_at,
      org: { org_id: orgId, name: 'Webhooked' },
      role: 'Owner',
    })
    const res = await accept(s, secretOf(delivery.payload.url), { password: PASSWORD })
    assert.equal(res.status, 200)
  })

  it('a webhook that answers non-2xx makes the invite call 502, without the link in the answer or the log', async () => {
    receiver.answerWith(500)
    try {
      const orgId = await createOrg(s)
      const made = await invite(s, orgId, 'fails@example.com')
      assert.equal(made.status, 502)
      const delivery = await receiver.waitFor((d) => d.payload.to === 'fails@example.com')
      const secret = secretOf(delivery.payload.url)
      assert.ok(!JSON.stringify(made.body).includes(secret))
      assert.ok(!JSON.stringify(s.gateway.logs).includes(secret))
      assert.ok(s.gateway.logs.some((l) => l.msg === 'mail not sent' && l.err === 'the mail webhook answered 500'))
    } finally {
      receiver.answerWith(204)
    }
  })

  it('a webhook that does not answer within mail.webhook.timeout is a 502 too', async () => {
    receiver.answerWith(204, 3000)
    try {
      const orgId = await createOrg(s)
      const started = Date.now()
      const made = await invite(s, orgId, 'slow@example.com')
      assert.equal(made.status, 502)
      assert.ok(Date.now() - started < 2900, 'the 2s timeout ends the wait')
      assert.ok(s.gateway.logs.some((l) => l.msg === 'mail not sent' && l.err === 'the mail webhook did not answer within 2000 ms'))
    } finally {
      receiver.answerWith(204)
    }
  })
})

describe('without mail configured', () => {
  let s: Started
  before(async () => {
    s = await start(undefined)
  })
  after(() => stop(s))

  it('POST /.gatehouse/magic is 404 and an invite answers its URL unmailed', async () => {
    const res = await fetch(`${s.gateway.url}/.gatehouse/magic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: s.gateway.url },
      body: JSON.stringify({ email: 'a@example.com' }),
    })
    assert.equal(res.status, 404)
    const orgId = await createOrg(s)
    const made = await invite(s, orgId, 'unmailed@example.com')
    assert.equal(made.status, 201)
    assert.equal(made.body.mailed, false)
    assert.match(String(made.body.url), INVITE_LINK)
  })
})
