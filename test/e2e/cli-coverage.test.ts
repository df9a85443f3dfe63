import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { stringify } from 'yaml'
import { main } from '../../src/main.ts'
import { TEST_ROLES } from '../support/gateway.ts'

/** Runs the CLI in-process, with what it prints captured. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const { log, error, warn } = console
  console.log = (...parts: unknown[]) => void out.push(parts.join(' '))
  console.error = (...parts: unknown[]) => void err.push(parts.join(' '))
  console.warn = console.error
  try {
    const code = await main(args)
    return { code, out: out.join('\n'), err: err.join('\n') }
  } finally {
    Object.assign(console, { log, error, warn })
  }
}

describe('the CLI covers the admin API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))
  const config = join(dir, 'gatehouse.yaml')
  writeFileSync(
    config,
    stringify({
      upstream: { url: 'http://127.0.0.1:9' },
      roles: TEST_ROLES,
      store: { url: 'sqlite:./cli.db' },
      tokens: { local_issuer: true },
      // The origin of invitation links; mail is not configured, so the CLI answers each link.
      end_users: { public_url: 'https://app.example.com' },
      routes: [{ path: '/x', auth: 'none' }],
    }),
  )
  after(() => rmSync(dir, { recursive: true, force: true }))
  const run = (...args: string[]) => cli(...args, '--config', config)
  const field = async (name: string, ...args: string[]) => {
    const res = await run(...args, '--field', name)
    assert.equal(res.code, 0, res.err)
    return res.out
  }

  it('users get, update, migrate and delete', async () => {
    const userId = await field('user_id', 'users', 'create', '--email', 'cli@example.com')
    assert.equal(await field('first_name', 'users', 'update', userId, '--first-name', 'Cleo'), 'Cleo')
    assert.equal(await field('email', 'users', 'get', userId), 'cli@example.com')
    const migrated = await field('user_id', 'users', 'migrate', '--email', 'old@example.com', '--existing-user-id', 'legacy-7')
    assert.equal(await field('user_id', 'users', 'get', '--email', 'old@example.com'), migrated)
    assert.equal((await run('users', 'delete', userId)).code, 0)
    assert.equal((await run('users', 'get', userId)).code, 1)
  })

  it('orgs get, update, change-role, remove-member and delete', async () => {
    const userId = await field('user_id', 'users', 'create', '--email', 'member@example.com')
    const orgId = await field('org_id', 'orgs', 'create', '--name', 'CLI Org')
    assert.equal(await field('name', 'orgs', 'update', orgId, '--name', 'Renamed', '--max-users', '5'), 'Renamed')
    assert.equal(await field('max_users', 'orgs', 'get', orgId), '5')
    assert.equal(await field('role', 'orgs', 'add-member', orgId, '--user', userId, '--role', 'Member'), 'Member')
    assert.equal(await field('role', 'orgs', 'change-role', orgId, '--user', userId, '--role', 'Admin'), 'Admin')
    assert.equal((await run('orgs', 'remove-member', orgId, '--user', userId)).code, 0)
    assert.equal((await run('orgs', 'change-role', orgId, '--user', userId, '--role', 'Owner')).code, 1)
    assert.equal((await run('orgs', 'delete', orgId)).code, 0)
    assert.equal((await run('orgs', 'get', orgId)).code, 1)
  })

  it('keys update and usage', async () => {
    const userId = await field('user_id', 'users', 'create', '--email', 'keys@example.com')
    const keyId = await field('api_key_id', 'keys', 'create', '--user', userId)
    assert.equal(await field('name', 'keys', 'update', keyId, '--name', 'laptop'), 'laptop')
    assert.equal(await field('count', 'keys', 'usage', '--date', '2026-01-01', '--key', keyId), '0')
  })

  it('invites create, list and revoke', async () => {
    const orgId = await field('org_id', 'orgs', 'create', '--name', 'Inviting')
    const url = await field('url', 'invites', 'create', '--org', orgId, '--email', 'Guest@Example.com', '--role', 'Member')
    assert.match(url, /^https:\/\/app\.example\.com\/\.gatehouse\/invite\/[A-Za-z0-9_-]{43}$/)
    const listed = JSON.parse(await field('invites', 'invites', 'list', '--org', orgId)) as { invitee_email: string }[]
    assert.deepEqual(
      listed.map((i) => i.invitee_email),
      ['guest@example.com'],
    )
    assert.equal((await run('invites', 'revoke', orgId, '--email', 'guest@example.com')).code, 0)
    assert.equal((await run('invites', 'revoke', orgId, '--email', 'guest@example.com')).code, 1, 'nothing pending: 404')
    assert.equal(await field('total_invites', 'invites', 'list', '--org', orgId), '0')
    const badRole = await run('invites', 'create', '--org', orgId, '--email', 'g@example.com', '--role', 'Emperor')
    assert.equal(badRole.code, 2)
    assert.match(badRole.err, /^--role: unknown role/m)
    const badHours = await run(
      'invites',
      'create',
      '--org',
      orgId,
      '--email',
      'g@example.com',
      '--role',
      'Member',
      '--expires-in-hours',
      '0',
    )
    assert.equal(badHours.code, 2)
    assert.match(badHours.err, /^--expires-in-hours: /m)
  })

  it('argument errors name the flag, not the API field, and exit 2', async () => {
    const orgId = await field('org_id', 'orgs', 'create', '--name', 'Flags')
    const missing = await run('orgs', 'add-member', orgId, '--role', 'Member')
    assert.equal(missing.code, 2)
    assert.match(missing.err, /^--user: /m)
    assert.doesNotMatch(missing.err, /user_id/)
    const minutes = await run('token', '--user', 'someone', '--minutes', '0')
    assert.equal(minutes.code, 2)
    assert.match(minutes.err, /^--minutes: /m)
    const date = await run('keys', 'usage', '--date', 'yesterday')
    assert.equal(date.code, 2)
    assert.match(date.err, /^--date: /m)
    const unknown = await run('users', 'create', '--mail', 'x@example.com')
    assert.equal(unknown.code, 2)
    assert.match(unknown.err, /--mail/)
  })

  it('every directory command answers --help with its usage, exit 0', async () => {
    const commands = [
      ['users', 'create'],
      ['users', 'get'],
      ['users', 'list'],
      ['users', 'update'],
      ['users', 'delete'],
      ['users', 'migrate'],
      ['users', 'disable'],
      ['users', 'enable'],
      ['orgs', 'create'],
      ['orgs', 'get'],
      ['orgs', 'list'],
      ['orgs', 'update'],
      ['orgs', 'delete'],
      ['orgs', 'add-member'],
      ['orgs', 'remove-member'],
      ['orgs', 'change-role'],
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'get'],
      ['keys', 'update'],
      ['keys', 'usage'],
      ['keys', 'rotate'],
      ['keys', 'archive'],
      ['keys', 'delete'],
      ['keys', 'validate'],
      ['invites', 'create'],
      ['invites', 'list'],
      ['invites', 'revoke'],
      ['token'],
    ]
    for (const words of commands) {
      const res = await cli(...words, '--help')
      assert.equal(res.code, 0, words.join(' '))
      assert.match(res.out, new RegExp(`^usage: gatehouse ${words.join(' ')}`), words.join(' '))
    }
  })
})
