import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

type Cli = {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const children: ChildProcess[] = []

/** Runs `src/cli.ts` (or `entry`) in a child process from the repository root; GATEHOUSE_CONFIG only when given. */
function cli(args: string[], env: Record<string, string> = {}, entry: string[] = ['src/cli.ts']): Cli {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  if (!('GATEHOUSE_CONFIG' in env)) delete childEnv.GATEHOUSE_CONFIG
  const child = spawn(process.execPath, ['--import', 'tsx', ...entry, ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { child, stdout: () => out, stderr: () => err, exited }
}

function tempDir(dirs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))
  dirs.push(dir)
  return dir
}

/**
 * Runs main() of src/main.ts in a child process that is not ended by process.exit(): it exits
 * only once nothing (listener, socket, timer) keeps it alive, with main()'s code.
 */
function mainWithoutExit(args: string[]): Cli {
  const script = `import('./src/main.ts').then((m) => m.main(${JSON.stringify(args)})).then((code) => { process.exitCode = code })`
  return cli([], {}, ['--eval', script])
}

/** A port free right now: bound, then released (the child binds it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(25)
  }
}

/** Whether a new TCP connection to the port is refused (true) or accepted (false, and closed at once). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('gatehouse check', () => {
  const dirs: string[] = []
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('accepts config.example.yaml and prints the route table', { timeout: 30_000 }, async () => {
    const run = cli(['check', '--config', 'config.example.yaml'])
    const { code } = await run.exited
    assert.equal(code, 0, run.stderr())
    const out = run.stdout()
    assert.match(out, /^config\.example\.yaml: valid, 8 routes/)
    const billing = out.split('\n').find((line) => line.includes('/org/:org_id/billing'))
    assert.ok(billing, `the table lists /org/:org_id/billing:\n${out}`)
    assert.match(billing, /\borg_member\b/)
    assert.match(billing, /permissions=can_view_billing/)
    assert.match(out, /^7 +GET,POST,HEAD +\/api\/\* +user .*100\/1m$/m)
  })

  it('names FILE:LINE:COL and the key path of every mistake, and exits 1', { timeout: 30_000 }, async () => {
    const file = join(tempDir(dirs), 'broken.yaml')
    writeFileSync(
      file,
      [
        'server:', //                         1
        '  listen: "127.0.0.1:0"', //         2
        '  shutdown_timeout: 10 parsecs', //  3  bad duration
        'upstream:', //                       4
        '  url: http://127.0.0.1:3000', //    5
        '  timeout: 5s', //                   6
        '  retries: 3', //                    7  unknown key
        'routes:', //                         8
        '  - { path: /x, auth: none }', //    9
        '',
      ].join('\n'),
    )
    const run = cli(['check', '--config', file])
    const { code } = await run.exited
    assert.equal(code, 1)
    assert.equal(run.stdout(), '', 'no route table for a broken file')
    const lines = run.stderr().trimEnd().split('\n')
    assert.equal(lines.length, 2, run.stderr())
    assert.equal(lines[0], `${file}:3:3 server.shutdown_timeout: "10 parsecs" is not a duration (use a number with ms, s, m, h or d)`)
    assert.equal(lines[1], `${file}:7:3 upstream.retries: unknown key "retries"`)
  })

  it('rejects a route bound to an issuer name that no issuer has, at its line', { timeout: 30_000 }, async () => {
    const file = join(tempDir(dirs), 'issuers.yaml')
    writeFileSync(
      file,
      [
        'upstream: { url: "http://127.0.0.1:3000" }', //                                         1
        'tokens:', //                                                                           2
        '  issuers:', //                                                                        3
        '    - { name: corp, issuer: https://a.example, jwks_url: https://a.example/jwks }', // 4
        'routes:', //                                                                           5
        '  - path: /x', //                                                                      6
        '    auth: user', //                                                                    7
        '    issuers: [corp, crop]', //                                                         8  typo
        '',
      ].join('\n'),
    )
    const run = cli(['check', '--config', file])
    assert.equal((await run.exited).code, 1)
    assert.equal(run.stderr().trimEnd(), `${file}:8:21 routes[0].issuers[1]: unknown issuer "crop" (issuer names: corp)`)
  })

  it('warns, and still succeeds, when an OIDC issuer has no audience', { timeout: 30_000 }, async () => {
    const file = join(tempDir(dirs), 'oidc.yaml')
    writeFileSync(
      file,
      [
        'upstream: { url: "http://127.0.0.1:3000" }',
        'tokens:',
        '  issuers:',
        '    - { name: corp, issuer: https://a.example, jwks_url: https://a.example/jwks, claims: oidc }',
        'routes:',
        '  - { path: /x, auth: user, issuers: [corp] }',
        '',
      ].join('\n'),
    )
    const run = cli(['check', '--config', file])
    assert.equal((await run.exited).code, 0, run.stderr())
    assert.match(run.stdout(), /valid, 1 routes/)
    assert.match(run.stdout(), /issuers=corp/)
    assert.equal(
      run.stderr().trimEnd(),
      'warning: tokens.issuers[0] (https://a.example): claims: oidc without audience: an ID token for another client would pass; set audience',
    )
  })

  it('reads GATEHOUSE_CONFIG when --config is absent, and --config wins over it', { timeout: 30_000 }, async () => {
    const file = join(tempDir(dirs), 'from-env.yaml')
    writeFileSync(file, 'upstream: { url: "http://127.0.0.1:3000" }\nroutes:\n  - { path: /from-env, auth: none }\n')

    const fromEnv = cli(['check'], { GATEHOUSE_CONFIG: file })
    assert.equal((await fromEnv.exited).code, 0, fromEnv.stderr())
    assert.ok(fromEnv.stdout().startsWith(`${file}: valid, 1 routes`), fromEnv.stdout())
    assert.match(fromEnv.stdout(), /\/from-env/)

    const explicit = cli(['check', '--config', 'config.example.yaml'], { GATEHOUSE_CONFIG: file })
    assert.equal((await explicit.exited).code, 0, explicit.stderr())
    assert.match(explicit.stdout(), /^config\.example\.yaml: valid, 8 routes/)
    assert.doesNotMatch(explicit.stdout(), /\/from-env/)
  })
})

describe('gatehouse start', () => {
  const dirs: string[] = []
  let upstream: TestUpstream

  before(async () => {
    upstream = await startUpstream()
  })

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await upstream.close()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  function writeConfig(listen: string, adminListen: string): string {
    const file = join(tempDir(dirs), 'gatehouse.yaml')
    writeFileSync(
      file,
      [
        'server:',
        `  listen: "${listen}"`,
        '  shutdown_timeout: 5s',
        'admin:',
        `  listen: "${adminListen}"`,
        'upstream:',
        `  url: "${upstream.url}"`,
        '  timeout: 10s',
        'routes:',
        '  - { path: "/*", auth: none }',
        '',
      ].join('\n'),
    )
    return file
  }

  it('announces both listeners on its first stdout line as soon as it is up', { timeout: 45_000 }, async () => {
    const run = cli(['start', '--config', writeConfig('127.0.0.1:0', '127.0.0.1:0')])
    try {
      // Operators and orchestrators read this line to learn the ports; it must not wait for shutdown.
      const first = await waitFor(
        'the first stdout line (the gateway answers, but nothing reached stdout: is the log buffered?)',
        () => {
          const newline = run.stdout().indexOf('\n')
          return newline >= 0 ? run.stdout().slice(0, newline) : undefined
        },
        15_000,
      )
      const started = JSON.parse(first) as Record<string, unknown>
      assert.equal(started.msg, 'gatehouse started')
      assert.match(String(started.admin), /^127\.0\.0\.1:\d+$/)
      const gateway = /^127\.0\.0\.1:(\d+)$/.exec(String(started.gateway))
      assert.ok(gateway, `gateway address: ${String(started.gateway)}`)
      const res = await fetch(`http://127.0.0.1:${gateway[1]}/via-announced-port`)
      assert.equal(res.status, 200)
      assert.equal(upstream.last().url, '/via-announced-port')
    } finally {
      run.child.kill('SIGTERM')
      await run.exited
    }
  })

  it('proxies, then on SIGTERM finishes the request in flight, refuses new connections and exits 0', { timeout: 45_000 }, async () => {
    // Known ports, so that this test does not depend on reading the startup line while running.
    const port = await freePort()
    const adminPort = await freePort()
    const run = cli(['start', '--config', writeConfig(`127.0.0.1:${port}`, `127.0.0.1:${adminPort}`)])
    const base = `http://127.0.0.1:${port}`

    const ready = await waitFor('the gateway to answer', async () => {
      if (run.child.exitCode !== null) throw new Error(`gatehouse exited early: ${run.stderr()}`)
      try {
        return await fetch(`${base}/hello?x=1`)
      } catch {
        return undefined
      }
    })
    assert.equal(ready.status, 200)
    assert.equal(ready.headers.get('x-upstream'), 'yes')
    assert.deepEqual(await ready.json(), { ok: true, path: '/hello?x=1', bodyBytes: 0 })
    assert.equal(upstream.last().headers['x-forwarded-proto'], 'http')

    // A request in flight: the upstream answers /slow after 2 s.
    let inFlightDone = false
    const inFlight = fetch(`${base}/slow`).then(async (res) => ({ status: res.status, body: await res.text() }))
    void inFlight.finally(() => (inFlightDone = true)).catch(() => {})
    await waitFor('the upstream to receive /slow', () => upstream.received.find((r) => r.url === '/slow'))

    assert.equal(await connectionRefused(port), false, 'the listener accepts before shutdown')
    run.child.kill('SIGTERM')
    // Shutdown begins: the listener closes while /slow is still being answered.
    await waitFor('new connections to be refused', async () => ((await connectionRefused(port)) ? true : undefined), 10_000)
    assert.equal(inFlightDone, false, 'new connections were refused while the request was still in flight')

    const answered = await inFlight
    assert.equal(answered.status, 200)
    assert.equal(answered.body, 'late')

    const { code, signal } = await run.exited
    assert.equal(signal, null)
    assert.equal(code, 0, run.stderr())

    const lines = jsonLines(run.stdout())
    assert.equal(lines[0]?.msg, 'gatehouse started')
    assert.equal(lines[0]?.gateway, `127.0.0.1:${port}`)
    assert.equal(lines[0]?.admin, `127.0.0.1:${adminPort}`)
    assert.ok(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'))
    assert.ok(
      lines.some((l) => l.msg === 'request' && l.path === '/slow' && l.status === 200),
      'the drained request is logged',
    )
    assert.equal(lines.at(-1)?.msg, 'gatehouse stopped')
  })

  describe('on a port in use', () => {
    let held: Server
    let heldPort: number
    before(async () => {
      held = createServer()
      await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve))
      heldPort = (held.address() as AddressInfo).port
    })
    after(() => new Promise<void>((resolve) => held.close(() => resolve())))

    const startFails = async (run: Cli, key: string) => {
      const { code, signal } = await run.exited
      assert.equal(signal, null)
      assert.equal(code, 1, run.stderr())
      assert.equal(run.stderr(), `gatehouse: ${key} 127.0.0.1:${heldPort}: cannot listen: the address is already in use\n`)
      const failed = jsonLines(run.stdout()).find((line) => line.msg === 'gatehouse failed to start')
      assert.ok(failed, run.stdout())
      assert.match(String(failed.err), new RegExp(`^${key.replace('.', '\\.')} `))
    }

    it('gatehouse start exits 1 with one line naming server.listen and the address, no stack trace', { timeout: 30_000 }, async () => {
      await startFails(cli(['start', '--config', writeConfig(`127.0.0.1:${heldPort}`, '127.0.0.1:0')]), 'server.listen')
    })

    it('names admin.listen when the admin port is the one in use, after the gateway listened', { timeout: 30_000 }, async () => {
      const port = await freePort()
      await startFails(cli(['start', '--config', writeConfig(`127.0.0.1:${port}`, `127.0.0.1:${heldPort}`)]), 'admin.listen')
    })

    it(
      'leaves nothing that keeps the process alive: main() returns 1 and the process ends without process.exit',
      { timeout: 30_000 },
      async () => {
        for (const [gateway, admin, key] of [
          [`127.0.0.1:${heldPort}`, '127.0.0.1:0', 'server.listen'],
          [`127.0.0.1:${await freePort()}`, `127.0.0.1:${heldPort}`, 'admin.listen'],
        ] as const) {
          const spawnedAt = Date.now()
          const run = mainWithoutExit(['start', '--config', writeConfig(gateway, admin)])
          // Well above the child's own start (tsx compiling the sources: about 2 s here), far below a hang.
          const exit = await Promise.race([run.exited, delay(15_000).then(() => 'still running')])
          if (exit === 'still running') run.child.kill('SIGKILL')
          assert.notEqual(exit, 'still running', `a failed start (${key}) kept the process alive`)
          console.log(`# ${key} in use: the process ended by itself ${Date.now() - spawnedAt} ms after it was spawned`)
          await startFails(run, key)
        }
      },
    )
  })
})
