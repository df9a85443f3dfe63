import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, parseConfig } from '../../src/config/index.ts'
import { restartOnlyChanges } from '../../src/reload/index.ts'

const BASE = `upstream:
  url: http://127.0.0.1:3000
routes:
  - { path: /x, auth: none }
end_users:
  public_url: https://app.example.com
`
const SECRET = 'whsec-0123456789abcdef0123456789abcdef'

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, 'gh.yaml', {})
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.message.split('\n')
  }
  assert.fail('expected a ConfigError')
}

describe('mail config', () => {
  it('parses a webhook and an SMTP delivery with their defaults', () => {
    const webhook = parseConfig(`${BASE}mail:\n  webhook:\n    url: https://mailer.internal/hook\n    secret: ${SECRET}\n`, 'gh.yaml', {})
    assert.deepEqual(
      { ...webhook.config.mail, url: String(webhook.config.mail?.url) },
      {
        kind: 'webhook',
        url: 'https://mailer.internal/hook',
        secret: SECRET,
        timeoutMs: 10_000,
      },
    )
    const smtp = parseConfig(
      `${BASE}mail:\n  smtp:\n    url: smtps://u:p@smtp.example.com:465\n    from: no-reply@example.com\n    timeout: 3s\n`,
      'gh.yaml',
      {},
    )
    assert.equal(smtp.config.mail?.kind, 'smtp')
    assert.equal(smtp.config.mail?.timeoutMs, 3000)
    assert.equal(parseConfig(BASE, 'gh.yaml', {}).config.mail, undefined, 'no mail: nothing is mailed')
  })

  it('names the line and key of each mistake', () => {
    assert.deepEqual(problemsOf(`${BASE}mail:\n  webhook:\n    url: https://mailer.internal/hook\n    secret: short\n`), [
      'gh.yaml:10:5 mail.webhook.secret: the webhook secret must be at least 32 characters',
    ])
    const [wrongScheme] = problemsOf(`${BASE}mail:\n  smtp:\n    url: http://smtp.example.com\n    from: a@example.com\n`)
    assert.match(wrongScheme!, /^gh\.yaml:9:5 mail\.smtp\.url: expected smtp:\/\//)
    const [both] = problemsOf(
      `${BASE}mail:\n  webhook: { url: "https://h.example/x", secret: ${SECRET} }\n  smtp: { url: "smtp://s.example", from: a@example.com }\n`,
    )
    assert.match(both!, /^gh\.yaml:7:1 mail: set exactly one of mail\.webhook and mail\.smtp/)
    const [typo] = problemsOf(`${BASE}mail:\n  smtp:\n    url: smtp://s.example\n    form: a@example.com\n`)
    assert.match(typo!, /mail\.smtp/)
  })

  it('needs end_users.public_url, the origin of the links', () => {
    const [line] = problemsOf(
      `upstream:\n  url: http://127.0.0.1:3000\nroutes:\n  - { path: /x, auth: none }\nmail:\n  smtp: { url: "smtp://s.example", from: a@example.com }\n`,
    )
    assert.match(line!, /mail: mail sends links on end_users\.public_url: set it/)
  })

  it('is restart-only: a reload that changes it names mail and applies the rest', () => {
    const withMail = (secret: string) =>
      parseConfig(`${BASE}mail:\n  webhook:\n    url: https://mailer.internal/hook\n    secret: ${secret}\n`, 'gh.yaml', {}).config
    assert.deepEqual(restartOnlyChanges(withMail(SECRET), withMail(`${SECRET}-rotated`)), ['mail'])
    assert.deepEqual(restartOnlyChanges(withMail(SECRET), withMail(SECRET)), [])
  })
})
