import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { renderMail, signWebhook } from '../../src/mail/index.ts'

describe('webhook signature', () => {
  it('is t=<seconds>,v1=<HMAC-SHA256 of "t.body" in hex>', () => {
    const body = '{"type":"invite"}'
    const expected = createHmac('sha256', 'k'.repeat(32)).update(`1700000000.${body}`).digest('hex')
    assert.equal(signWebhook('k'.repeat(32), 1_700_000_000, body), `t=1700000000,v1=${expected}`)
    assert.notEqual(
      signWebhook('k'.repeat(32), 1_700_000_001, body),
      signWebhook('k'.repeat(32), 1_700_000_000, body),
      'the time is signed',
    )
  })
})

describe('mail rendering', () => {
  it('names the org, role and inviter, and escapes them in the HTML part', () => {
    const mail = renderMail({
      type: 'invite',
      to: 'a@example.com',
      url: 'https://app.example.com/.gatehouse/invite/abc',
      expires_at: 1_700_000_000,
      org: { org_id: 'o1', name: 'Acme <Labs> & "Co"' },
      role: 'Admin',
      inviter_email: 'boss@example.com',
    })
    assert.equal(mail.subject, 'You are invited to Acme <Labs> & "Co"')
    assert.match(mail.text, /^boss@example\.com invited you to join Acme <Labs> & "Co" as Admin\./)
    assert.ok(mail.text.includes('https://app.example.com/.gatehouse/invite/abc'))
    assert.ok(mail.html.includes('Acme &lt;Labs&gt; &amp; &quot;Co&quot;'))
    assert.ok(!mail.html.includes('<Labs>'))
    assert.ok(mail.html.includes('href="https://app.example.com/.gatehouse/invite/abc"'))
  })

  it('a magic link says it works once', () => {
    const mail = renderMail({ type: 'magic_link', to: 'a@example.com', url: 'https://app.example.com/.gatehouse/magic/x', expires_at: 1 })
    assert.equal(mail.subject, 'Your sign-in link')
    assert.match(mail.text, /works once/)
  })
})
