import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { startGateway, TEST_ROLES } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startIssuer } from '../support/issuer.ts'
import { freePort } from '../support/services.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** One GET over the agent's kept-alive connections: the status, or the error's code when the request failed. */
function get(agent: Agent, url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    req.end()
  })
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(20)
  }
}

describe('hot reload', () => {
  let upstream: TestUpstream
  before(async () => {
    upstream = await startUpstream()
  })
  after(() => upstream.close())

  /** What startGateway writes, so that an edit rewrites the whole file as an operator would. */
  const base = (routes: unknown[], extra: Record<string, unknown> = {}) => ({
    server: { listen: '127.0.0.1:0', shutdown_timeout: '2s' },
    admin: { listen: '127.0.0.1:0' },
    roles: TEST_ROLES,
    upstream: { url: upstream.url },
    routes,
    ...extra,
  })
  const edit = (gw: TestGateway, config: unknown) => writeFileSync(join(gw.dir, 'gatehouse.yaml'), stringify(config))

  it('changes a route under load: no request fails, kept-alive connections stay, the new rule applies within a second', async () => {
    const gw = await startGateway(base([{ path: '/a/*', auth: 'none' }]))
    const agent = new Agent({ keepAlive: true, maxSockets: 4 })
    try {
      let running = true
      const statuses: (number | string)[] = []
      const sockets = new Set<unknown>()
      agent.on('free', (socket) => sockets.add(socket))
      const worker = async () => {
        while (running) statuses.push(await get(agent, `${gw.url}/a/x`))
      }
      const workers = Array.from({ length: 4 }, worker)
      await waitFor('load to run', () => (statuses.length > 50 ? true : undefined))
      assert.equal(await get(agent, `${gw.url}/b/x`), 404)

      edit(
        gw,
        base([
          { path: '/a/*', auth: 'none' },
          { path: '/b/*', auth: 'none' },
        ]),
      )
      const asked = performance.now()
      const result = await gw.running.reload()
      assert.equal(result.outcome, 'applied')
      await waitFor('the new route', async () => ((await get(agent, `${gw.url}/b/x`)) === 200 ? true : undefined))
      const took = performance.now() - asked
      assert.ok(took < 1000, `the new rule applied after ${Math.round(took)} ms`)
      const atSwap = statuses.length
      await waitFor('more load after the swap', () => (statuses.length > atSwap + 50 ? true : undefined))
      running = false
      await Promise.all(workers)

      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
        'every request under load was answered 200',
      )
      assert.ok(sockets.size <= 5, `the load kept its connections (${sockets.size} sockets for ${statuses.length} requests)`)
      assert.ok(gw.logs.some((l) => l.msg === 'config reloaded' && l.routes === 2))
    } finally {
      agent.destroy()
      await gw.close()
    }
  })

  it('finishes a request in flight under the config it started with', async () => {
    const gw = await startGateway(base([{ path: '/slow', auth: 'none' }]))
    try {
      const inFlight = fetch(`${gw.url}/slow`)
      await waitFor('the upstream to receive /slow', () => upstream.received.find((r) => r.url === '/slow'))
      // The next config no longer has the route: a new request is refused, the one under way is not.
      edit(gw, base([{ path: '/other', auth: 'none' }]))
      assert.equal((await gw.running.reload()).outcome, 'applied')
      assert.equal((await fetch(`${gw.url}/slow`)).status, 404)
      const res = await inFlight
      assert.equal(res.status, 200)
      assert.equal(await res.text(), 'late')
    } finally {
      await gw.close()
    }
  })

  it('keeps the running config when the edit is broken, and logs file:line of each problem', async () => {
    const gw = await startGateway(base([{ path: '/a', auth: 'none' }]))
    try {
      const file = join(gw.dir, 'gatehouse.yaml')
      // Line 4: an unknown key; line 6: a route naming a role that does not exist.
      writeFileSync(
        file,
        [
          'upstream:',
          `  url: "${upstream.url}"`,
          'server:',
          '  listn: "127.0.0.1:0"',
          'routes:',
          '  - { path: /b, auth: user, role: Nobody }',
          '',
        ].join('\n'),
      )
      const result = await gw.running.reload()
      assert.equal(result.outcome, 'failed')
      assert.ok(
        result.problems.some((p) => p.startsWith(`${file}:4:`) && p.includes('listn')),
        result.problems.join('\n'),
      )
      assert.ok(result.problems.some((p) => p.startsWith(`${file}:6:`) && p.includes('Nobody')))
      const logged = gw.logs.find((l) => l.msg === 'config reload failed: the running config stays')
      assert.ok(logged, 'the refusal is logged')
      assert.ok((logged.problems as string[]).some((p) => p.startsWith(`${file}:4:`)))
      assert.equal((await fetch(`${gw.url}/a`)).status, 200, 'the old route still serves')
      assert.equal((await fetch(`${gw.url}/b`)).status, 404, 'nothing of the broken edit applies')
      const scrape = await (await fetch(`${gw.adminUrl}/metrics`)).text()
      assert.match(scrape, /^gatehouse_config_reloads_total\{result="failure"\} 1$/m)
      assert.match(scrape, /^gatehouse_config_reloads_total\{result="success"\} 0$/m)
    } finally {
      await gw.close()
    }
  })

  it('reports a restart-only change and applies the rest', async () => {
    const gw = await startGateway(base([{ path: '/a', auth: 'none' }]))
    try {
      edit(
        gw,
        base(
          [
            { path: '/a', auth: 'none' },
            { path: '/b', auth: 'none' },
          ],
          { store: { pool_size: 3 }, rate_limits: { max_tracked: 5000 } },
        ),
      )
      const result = await gw.running.reload()
      assert.equal(result.outcome, 'applied')
      assert.deepEqual(result.restartOnly, ['store', 'rate_limits.max_tracked'])
      const warned = gw.logs.find((l) => l.msg === 'config reload: these settings change only with a restart; the running values stay')
      assert.deepEqual(warned?.keys, ['store', 'rate_limits.max_tracked'])
      assert.equal((await fetch(`${gw.url}/b`)).status, 200, 'the route change applied')
      assert.match(await (await fetch(`${gw.adminUrl}/metrics`)).text(), /^gatehouse_config_reloads_total\{result="success"\} 1$/m)
    } finally {
      await gw.close()
    }
  })

  it('drops the cached identities when the roles change: a removed permission does not outlive the reload', async () => {
    const issuer = await startIssuer()
    // oidc claims name the role only; its permissions come from the role table.
    const tokens = {
      issuers: [
        {
          issuer: issuer.issuer,
          jwks_url: issuer.jwksUrl,
          algorithms: ['ES256'],
          claims: 'oidc',
          oidc: { org_id: 'org_id', org_role: 'org_role' },
        },
      ],
    }
    const routes = [{ path: '/orgs/:org_id/keys', auth: 'org_member', permission: 'can_manage_api_keys' }]
    const gw = await startGateway(base(routes, { tokens }))
    try {
      const token = await issuer.sign({ sub: 'user_1', org_id: 'acme', org_role: 'Admin' })
      const call = async () => (await fetch(`${gw.url}/orgs/acme/keys`, { headers: { authorization: `Bearer ${token}` } })).status
      assert.equal(await call(), 200, 'verified and cached while Admin holds can_manage_api_keys')
      assert.equal(await call(), 200)
      const roles = TEST_ROLES.map((role) => (role.name === 'Admin' ? { ...role, permissions: [] } : role))
      edit(gw, { ...base(routes, { tokens }), roles })
      assert.equal((await gw.running.reload()).outcome, 'applied')
      assert.equal(await call(), 403, 'mapped afresh under the new roles')
    } finally {
      await gw.close()
      await issuer.close()
    }
  })

  it('with config.watch, applies an edit of the file by itself', async () => {
    const watching = { config: { watch: true } }
    const gw = await startGateway(base([{ path: '/a', auth: 'none' }], watching))
    try {
      assert.equal((await fetch(`${gw.url}/w`)).status, 404)
      edit(
        gw,
        base(
          [
            { path: '/a', auth: 'none' },
            { path: '/w', auth: 'none' },
          ],
          watching,
        ),
      )
      await waitFor('the watched edit to apply', async () => ((await fetch(`${gw.url}/w`)).status === 200 ? true : undefined), 5000)
      assert.ok(gw.logs.some((l) => l.msg === 'config reloaded'))
    } finally {
      await gw.close()
    }
  })

  it('reloads on SIGHUP in a real `gatehouse start` and never terminates, even on a broken edit', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'))
    const port = await freePort()
    const file = join(dir, 'gatehouse.yaml')
    const config = (routes: string[]) =>
      [
        'server:',
        `  listen: "127.0.0.1:${port}"`,
        'admin:',
        '  listen: "127.0.0.1:0"',
        'upstream:',
        `  url: "${upstream.url}"`,
        'routes:',
        ...routes,
        '',
      ].join('\n')
    writeFileSync(file, config(['  - { path: /a, auth: none }']))
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s))
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    const status = async (path: string) => {
      if (child.exitCode !== null) throw new Error(`gatehouse exited: ${out}`)
      try {
        return (await fetch(`http://127.0.0.1:${port}${path}`)).status
      } catch {
        return undefined
      }
    }
    try {
      await waitFor('the gateway to answer', () => status('/a'), 20_000)
      assert.equal(await status('/b'), 404)

      writeFileSync(file, config(['  - { path: /a, auth: none }', '  - { path: /b, auth: none }']))
      child.kill('SIGHUP')
      await waitFor('the reloaded route', async () => ((await status('/b')) === 200 ? true : undefined))

      writeFileSync(file, config(['  - { path: /a, auth: nobody }']))
      child.kill('SIGHUP')
      await waitFor('the refusal in the log', () => (out.includes('config reload failed') ? true : undefined))
      assert.ok(out.includes(`${file}:8:`), out)
      assert.equal(await status('/b'), 200, 'the running config stays')
      assert.equal(child.exitCode, null, 'SIGHUP did not terminate the process')

      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
