import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../../src/config/index.ts'
import { main } from '../../src/main.ts'
import { startGatehouse } from '../../src/server.ts'

describe('gatehouse init', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-init-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('writes a commented starter config that validates and starts ready', async () => {
    const file = join(dir, 'gatehouse.yaml')
    assert.equal(await main(['init', '--config', file]), 0)
    const text = readFileSync(file, 'utf8')
    assert.match(text, /^# gatehouse configuration/)
    assert.ok(text.split('\n').filter((line) => line.trim().startsWith('#')).length >= 10, 'it explains itself')
    process.env.GATEHOUSE_LISTEN = '127.0.0.1:0'
    process.env.GATEHOUSE_ADMIN_LISTEN = '127.0.0.1:0'
    try {
      const running = await startGatehouse(loadConfig(file))
      try {
        const ready = await fetch(`http://127.0.0.1:${running.admin.port}/readyz`)
        assert.equal(ready.status, 200, await ready.text())
      } finally {
        await running.close()
      }
    } finally {
      delete process.env.GATEHOUSE_LISTEN
      delete process.env.GATEHOUSE_ADMIN_LISTEN
    }
  })

  it('refuses to overwrite a config that exists', async () => {
    const file = join(dir, 'mine.yaml')
    writeFileSync(file, 'mine: true\n')
    assert.equal(await main(['init', '--config', file]), 1)
    assert.equal(readFileSync(file, 'utf8'), 'mine: true\n')
  })
})
