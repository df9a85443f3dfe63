import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { freePort } from '../support/services.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The README's Quickstart commands, as written between its quickstart markers. */
function quickstart(): { script: string; curls: { line: string; status: number }[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = /<!-- quickstart:begin -->([\s\S]*?)<!-- quickstart:end -->/.exec(readme)?.[1]
  assert.ok(section, 'README.md has a quickstart section')
  const lines = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => block[1]!.trimEnd().split('\n'))
  const curls = lines.flatMap((line) => {
    const status = /^curl -i .*# (\d{3})\b/.exec(line)?.[1]
    return status ? [{ line, status: Number(status) }] : []
  })
  return { script: lines.join('\n'), curls }
}

describe('the README Quickstart runs as written', () => {
  it('starts the example config, makes a user, an org, a token and a key, and each curl answers as its comment says', async () => {
    const { script, curls } = quickstart()
    assert.ok(curls.length >= 3, 'the curl lines state their statuses')
    const [gateway, admin, upstream] = [await freePort(), await freePort(), await freePort()]
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-quickstart-'))
    // The same commands on ephemeral ports, with the store and keys in a temporary folder.
    const ported = script
      .replaceAll('localhost:8080', `127.0.0.1:${gateway}`)
      .replaceAll('127.0.0.1:8081', `127.0.0.1:${admin}`)
      .replace('.listen(3000)', `.listen(${upstream}, '127.0.0.1')`)
    const env = {
      ...process.env,
      GATEHOUSE_LISTEN: `127.0.0.1:${gateway}`,
      GATEHOUSE_ADMIN_LISTEN: `127.0.0.1:${admin}`,
      GATEHOUSE_UPSTREAM: `http://127.0.0.1:${upstream}`,
      GATEHOUSE_STORE_URL: `sqlite:${join(dir, 'gatehouse.db')}`,
      GATEHOUSE_KEY_FILE: join(dir, 'keys.json'),
    }
    const child = spawn('bash', ['-c', `set -e\n${ported}`], { cwd: ROOT, env, detached: true })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    // Its own process group: npm start's gateway (a grandchild) ends with it.
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(killGroup, 90_000)
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    clearTimeout(timer)
    killGroup()
    rmSync(dir, { recursive: true, force: true })
    assert.equal(code, 0, `the quickstart exits 0\n${err}`)
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
    assert.deepEqual(
      statuses,
      curls.map((c) => c.status),
      out,
    )
    assert.match(out, /"x-gatehouse-user-id": "[0-9a-f-]{36}"/, 'the upstream saw the identity')
    assert.match(out, /"keys":\s*\[/, 'the JWKS is served')
  })
})
