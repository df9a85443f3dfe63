import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/index.ts'
import { startGatehouse } from '../../src/server.ts'
import { TEST_ROLES } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

function gatehouse(args: string[]) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT })
}

describe('directory CLI on the configured store, and a gateway sharing it', () => {
  let upstream: TestUpstream
  let dir: string
  let config: string

  before(async () => {
    upstream = await startUpstream()
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))
    config = join(dir, 'gatehouse.yaml')
    writeFileSync(
      config,
      stringify({
        server: { listen: '127.0.0.1:0' },
        admin: { listen: '127.0.0.1:0' },
        upstream: { url: upstream.url },
        store: { url: 'sqlite:./shared.db' },
        roles: TEST_ROLES,
        // A short validation cache: a change made by another process shows within it.
        tokens: { local_issuer: true, cache: { ttl: '1s' } },
        routes: [{ path: '/org/:org_id/admin', auth: 'org_member', role: 'Admin' }],
      }),
    )
  })

  after(async () => {
    await upstream.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('creates a user and an org, adds the member, mints a token the gateway accepts; a disable from another process stops it within the cache ttl', async () => {
    const user = JSON.parse(
      (await gatehouse(['users', 'create', '--email', 'grace@example.com', '--first-name', 'Grace', '--config', config])).stdout,
    ) as { user_id: string }
    const org = JSON.parse((await gatehouse(['orgs', 'create', '--name', 'Navy', '--config', config])).stdout) as { org_id: string }
    await gatehouse(['orgs', 'add-member', org.org_id, '--user', user.user_id, '--role', 'Admin', '--config', config])
    const listed = JSON.parse((await gatehouse(['users', 'list', '--query', 'grace', '--config', config])).stdout) as {
      total_users: number
    }
    assert.equal(listed.total_users, 1)
    const token = (await gatehouse(['token', '--user', user.user_id, '--minutes', '10', '--config', config])).stdout.trim()
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)

    const log = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }))
    const running = await startGatehouse(loadConfig(config), { log })
    try {
      const call = async () =>
        (await fetch(`http://127.0.0.1:${running.gateway.port}/org/${org.org_id}/admin`, { headers: { authorization: `Bearer ${token}` } }))
          .status
      assert.equal(await call(), 200)
      assert.equal(upstream.last().headers['x-gatehouse-org-role'], 'Admin')

      await gatehouse(['users', 'disable', user.user_id, '--config', config])
      const disabledAt = Date.now()
      let status = 200
      while (status === 200 && Date.now() - disabledAt < 5000) {
        status = await call()
        if (status === 200) await new Promise((r) => setTimeout(r, 100))
      }
      const stoppedAfter = Date.now() - disabledAt
      console.log(`# token refused ${stoppedAfter} ms after another process disabled the user (cache ttl 1 s)`)
      assert.equal(status, 401)
      assert.ok(stoppedAfter <= 2500, `stopped after ${stoppedAfter} ms`)
    } finally {
      await running.close()
    }
  })

  it('manages API keys: create shows the secret once, list never does, validate and archive', async () => {
    const user = JSON.parse((await gatehouse(['users', 'create', '--email', 'keys@example.com', '--config', config])).stdout) as {
      user_id: string
    }
    const created = JSON.parse(
      (
        await gatehouse([
          'keys',
          'create',
          '--user',
          user.user_id,
          '--name',
          'laptop',
          '--scopes',
          'a,b',
          '--expiration',
          'one_month',
          '--config',
          config,
        ])
      ).stdout,
    ) as { api_key_id: string; api_key_token: string; scopes: string[]; expires_at_seconds: number }
    assert.match(created.api_key_token, /^gtu_[0-9A-Za-z]{28}$/)
    assert.deepEqual(created.scopes, ['a', 'b'])
    assert.ok(created.expires_at_seconds > Date.now() / 1000 + 29 * 86400)
    const listed = (await gatehouse(['keys', 'list', '--user', user.user_id, '--config', config])).stdout
    assert.ok(listed.includes(created.api_key_id) && !listed.includes(created.api_key_token))
    const valid = JSON.parse((await gatehouse(['keys', 'validate', created.api_key_token, '--config', config])).stdout) as {
      user: { user_id: string }
    }
    assert.equal(valid.user.user_id, user.user_id)
    await gatehouse(['keys', 'archive', created.api_key_id, '--reason', 'rotated out', '--config', config])
    await assert.rejects(gatehouse(['keys', 'validate', created.api_key_token, '--config', config]), (err: { stderr: string }) => {
      assert.match(err.stderr, /"error_code":"archived"/)
      return true
    })
  })

  it('sends only query parameters the admin API declares: every reading command, with every flag, succeeds', async () => {
    const user = JSON.parse((await gatehouse(['users', 'create', '--email', 'flags@example.com', '--config', config])).stdout) as {
      user_id: string
    }
    const org = JSON.parse((await gatehouse(['orgs', 'create', '--name', 'Flags', '--config', config])).stdout) as { org_id: string }
    const key = JSON.parse((await gatehouse(['keys', 'create', '--org', org.org_id, '--config', config])).stdout) as { api_key_id: string }
    const paging = ['--page', '0', '--page-size', '5']
    const commands = [
      ['users', 'get', user.user_id],
      ['users', 'get', '--email', 'flags@example.com'],
      ['users', 'list', '--query', 'flags', ...paging],
      ['orgs', 'list', '--name', 'Flags', ...paging],
      ['keys', 'list', '--user', user.user_id, '--org', org.org_id, ...paging],
      ['keys', 'list', '--org', org.org_id, '--archived', ...paging],
      ['keys', 'get', key.api_key_id],
    ]
    // The admin API answers an undeclared or repeated query parameter with 400, which would fail the command.
    for (const command of commands) JSON.parse((await gatehouse([...command, '--config', config])).stdout)
    const orgKeys = JSON.parse((await gatehouse(['keys', 'list', '--org', org.org_id, '--config', config])).stdout) as {
      api_keys: { api_key_id: string }[]
    }
    assert.deepEqual(
      orgKeys.api_keys.map((k) => k.api_key_id),
      [key.api_key_id],
    )
  })

  it('refuses what the API refuses: an invalid argument named by its flag, exit 2', async () => {
    await assert.rejects(
      gatehouse(['orgs', 'add-member', 'no-such-org', '--user', 'nobody', '--role', 'Wizard', '--config', config]),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2)
        assert.match(err.stderr, /^--role: .*unknown role/m)
        return true
      },
    )
  })

  it('sets a password read from stdin (never argv), which has_password shows, and clears it', async () => {
    const user = JSON.parse((await gatehouse(['users', 'create', '--email', 'pw-cli@example.com', '--config', config])).stdout) as {
      user_id: string
    }
    const password = 'a password from a file'
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'users', 'set-password', user.user_id, '--config', config], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stdin.end(`${password}\n`)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(code, 0, out)
    assert.equal((JSON.parse(out) as { has_password: boolean }).has_password, true)
    assert.ok(!out.includes(password) && !out.includes('argon2'))
    const cleared = JSON.parse((await gatehouse(['users', 'clear-password', user.user_id, '--config', config])).stdout) as {
      has_password: boolean
    }
    assert.equal(cleared.has_password, false)
  })

  it('npm run demo prints a working token and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'demo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 30_000)
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('Ctrl-C')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    const token = /TOKEN=(\S+)/.exec(out)?.[1]
    const gateway = /gateway (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
    assert.ok(token && gateway, out)
    const res = await fetch(`${gateway}/api/whoami`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200)
    const echoed = (await res.json()) as { identity: Record<string, string> }
    assert.equal(echoed.identity['x-gatehouse-email'], 'ada@example.com')
    assert.equal((await fetch(`${gateway}/api/whoami`)).status, 401)
    child.kill('SIGINT')
    const code = await new Promise((resolve) => child.on('exit', resolve))
    assert.equal(code, 0)
  })
})
