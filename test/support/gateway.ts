import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/index.ts'
import { startGatehouse } from '../../src/server.ts'
import type { RunningGatehouse, StartOptions } from '../../src/server.ts'

export type TestGateway = {
  url: string
  adminUrl: string
  running: RunningGatehouse
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[]
  dir: string
  close(): Promise<void>
}

export const TEST_ROLES = [
  { name: 'Owner', permissions: ['can_view_billing', 'can_manage_api_keys'] },
  { name: 'Admin', permissions: ['can_manage_api_keys'] },
  { name: 'Member', permissions: [] },
]

/**
 * Starts the real gateway on ephemeral loopback ports from a config object written as YAML into
 * a temporary folder (so relative key files land there too), with logs captured in memory.
 */
export async function startGateway(config: Record<string, unknown>, options: Omit<StartOptions, 'log'> = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'))
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(
    file,
    stringify({
      server: { listen: '127.0.0.1:0', shutdown_timeout: '2s' },
      admin: { listen: '127.0.0.1:0' },
      roles: TEST_ROLES,
      ...config,
    }),
  )
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const log = pino({ level: 'info', base: undefined }, sink)
  const running = await startGatehouse(loadConfig(file), { ...options, log })
  return {
    url: `http://127.0.0.1:${running.gateway.port}`,
    adminUrl: `http://127.0.0.1:${running.admin.port}`,
    running,
    logs,
    dir,
    close: async () => {
      await running.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
