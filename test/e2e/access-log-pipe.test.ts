import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const REQUESTS = 3_000

/** One GET on a keep-alive agent; resolves with the status once the body is read. */
function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', reject)
    req.end()
  })
}

describe('the access log written to a pipe, as stdout is in a container', () => {
  let upstream: TestUpstream
  let dir: string
  before(async () => {
    upstream = await startUpstream()
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-log-pipe-'))
  })
  after(async () => {
    await upstream.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it(
    'loses no line when the gateway stops right after its last answer, and writes each in the same field order',
    { timeout: 60_000 },
    async () => {
      const config = join(dir, 'gatehouse.yaml')
      writeFileSync(
        config,
        [
          'server: { listen: "127.0.0.1:0", shutdown_timeout: 5s }',
          'admin: { listen: "127.0.0.1:0" }',
          `upstream: { url: "${upstream.url}" }`,
          'routes:',
          '  - { path: "/*", auth: none }',
          '',
        ].join('\n'),
      )
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', config], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
      try {
        const started = await new Promise<{ gateway: string }>((resolve, reject) => {
          const look = () => {
            const line = out.split('\n').find((l) => l.includes('"gatehouse started"'))
            if (line) return resolve(JSON.parse(line) as { gateway: string })
            if (child.exitCode !== null) return reject(new Error(`gatehouse exited: ${err}`))
            setTimeout(look, 50)
          }
          look()
        })
        const port = Number(started.gateway.split(':').at(-1))
        const agent = new Agent({ keepAlive: true, maxSockets: 16 })
        let next = 0
        const statuses: number[] = []
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next < REQUESTS) statuses.push(await get(agent, port, `/n/${next++}?q=secret`))
          }),
        )
        agent.destroy()
        assert.deepEqual(new Set(statuses), new Set([200]))
        // At once: the last lines are still buffered in the gateway when it is told to stop.
        child.kill('SIGTERM')
        assert.equal(await exited, 0, err)
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      const lines = out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const logged = lines.filter((l) => l.msg === 'request')
      assert.equal(logged.length, REQUESTS)
      assert.deepEqual(new Set(logged.map((l) => l.path)).size, REQUESTS)
      assert.ok(!out.includes('secret'), 'the query is never logged')
      assert.deepEqual(Object.keys(logged[0]!), ['level', 'time', 'method', 'path', 'status', 'duration_ms', 'route', 'request_id', 'msg'])
      assert.equal(lines.at(-1)?.msg, 'gatehouse stopped')
      assert.ok(lines.findIndex((l) => l.msg === 'shutting down') > lines.findIndex((l) => l.msg === 'request'))
    },
  )
})
