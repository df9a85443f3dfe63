// `npm run bench:instructions [-- --cold]`: instructions per request on each target's main thread,
// counted by valgrind's callgrind, beside the CPU time `npm run bench` measures. An instruction
// count does not depend on what else the machine is doing (the same binary, inputs and warm-up
// give the same count to a fraction of a percent), so a change of a few percent in gatehouse's
// own work shows here where the CPU figures of a shared machine swing by more. It counts user
// space only: the kernel's share of a request (the loopback sockets' reads and writes, and waking
// the peer on the other end) is the `npm run bench` rows' "of it kernel". Under valgrind OpenSSL,
// SHA-256 and simdutf detect fewer CPU features and run their generic code, so jwt-cold's counts
// overstate the signature check.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAllChildren } from './children.ts'
import { runLoad } from './load.ts'
import { GATEHOUSE_PATHS, startGatehouse } from './targets/gatehouse.ts'
import type { GatehouseOptions } from './targets/gatehouse.ts'
import { findSystemBinary, startNodeServer } from './targets/launch.ts'
import type { Target, Wrapper } from './targets/launch.ts'
import { createIssuer, mintTokens, rotation } from './tokens.ts'

/** Requests before the count starts (V8 has optimized the hot functions by then), and counted. */
const WARM_UP = 10_000
const COUNTED = 6_000
/** jwt-cold's requests are ten times dearer under valgrind; its tiers settle sooner. */
const COLD_WARM_UP = 8_000
const COLD_COUNTED = 3_000
const CONNECTIONS = 8

type Row = { target: string; scenario: string; mainThread: number }

function callgrindWrapper(dir: string): Wrapper {
  return {
    command: ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--separate-threads=yes', `--callgrind-out-file=${dir}/cg.%p`],
    // gatehouse starts in about a minute under callgrind.
    readyTimeoutMs: 300_000,
  }
}

/** The instructions of a process's main thread (its thread 01) in its second dump, the counted one. */
function countedOnMainThread(dir: string, pid: number): number {
  const file = `cg.${pid}.2-01`
  if (!readdirSync(dir).includes(file)) throw new Error(`no callgrind dump ${file} in ${dir}`)
  return Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? 0)
}

async function count(
  dir: string,
  target: Target,
  scenario: string,
  load: { path: string; headers?: Record<string, string>; nextToken?: () => string },
  warmUp: number,
  counted: number,
): Promise<Row> {
  try {
    const send = async (amount: number) => {
      const result = await runLoad({ origin: target.origin, connections: CONNECTIONS, amount, maxSeconds: 1_800, ...load })
      if (result.statusCounts[200] !== amount) throw new Error(`${target.name}: ${JSON.stringify(result.statusCounts)} of ${amount}`)
    }
    await send(warmUp)
    // A dump resets the counters: the second one holds exactly the counted requests.
    execFileSync('callgrind_control', ['--dump', String(target.pid)], { stdio: 'ignore' })
    await send(counted)
    execFileSync('callgrind_control', ['--dump', String(target.pid)], { stdio: 'ignore' })
    const row = { target: target.name, scenario, mainThread: countedOnMainThread(dir, target.pid) / counted }
    console.log(`${row.target.padEnd(22)} ${scenario.padEnd(9)} ${Math.round(row.mainThread).toLocaleString('en-US').padStart(10)}`)
    return row
  } finally {
    await target.stop()
  }
}

async function main(): Promise<void> {
  for (const tool of ['valgrind', 'callgrind_control']) {
    if (!findSystemBinary(tool)) throw new Error(`${tool} is not installed (apt-get install valgrind)`)
  }
  const cold = process.argv.includes('--cold')
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-instructions-'))
  const wrapper = callgrindWrapper(dir)
  const upstream = await startNodeServer('upstream', 'upstream.js', [], dir)
  try {
    const issuer = await createIssuer()
    const [hotToken] = await mintTokens(issuer, ['user-1'])
    const gatehouse = (name: string, options: Partial<GatehouseOptions> = {}) =>
      startGatehouse(
        name,
        {
          upstream: upstream.origin,
          issuer: issuer.issuer,
          publicKeyPem: issuer.publicKeyPem,
          cacheEntries: 100_000,
          apiKeyCacheEntries: 100_000,
          accessLog: false,
          storeFile: `${name}.db`,
          ...options,
        },
        dir,
        wrapper,
      )
    const publicPath = { path: GATEHOUSE_PATHS.public }
    console.log(
      `instructions per request, main thread (callgrind), ${COUNTED.toLocaleString('en-US')} requests after ${WARM_UP.toLocaleString('en-US')}`,
    )
    const rows: Row[] = []
    const measure = async (row: Promise<Row>) => void rows.push(await row)
    // The two floors: node:http's own client, and node:http's server with an undici Pool.
    for (const baseline of ['node-proxy', 'undici-proxy']) {
      const target = await startNodeServer(baseline, `${baseline}.js`, [upstream.origin], dir, wrapper)
      await measure(count(dir, target, 'public', publicPath, WARM_UP, COUNTED))
    }
    await measure(count(dir, await gatehouse('gatehouse'), 'public', publicPath, WARM_UP, COUNTED))
    const hot = { path: GATEHOUSE_PATHS.user, headers: { authorization: `Bearer ${hotToken}` } }
    await measure(count(dir, await gatehouse('gatehouse-hot'), 'jwt-hot', hot, WARM_UP, COUNTED))
    if (cold) {
      // As jwt-cold in `npm run bench`: 3,000 users' tokens against a 100-entry cache.
      const tokens = await mintTokens(
        issuer,
        Array.from({ length: 3_000 }, (_, i) => `user-${i}`),
      )
      const load = { path: GATEHOUSE_PATHS.user, nextToken: rotation(tokens) }
      await measure(count(dir, await gatehouse('gatehouse-cold', { cacheEntries: 100 }), 'jwt-cold', load, COLD_WARM_UP, COLD_COUNTED))
    }
    const of = (target: string, scenario: string) => rows.find((r) => r.target === target && r.scenario === scenario)!.mainThread
    console.log('\nratios of main-thread instructions per request')
    for (const row of rows.filter((r) => r.target.startsWith('gatehouse'))) {
      const name = `gatehouse ${row.scenario}`
      console.log(
        `${name.padEnd(20)} ÷ node-proxy ${(row.mainThread / of('node-proxy', 'public')).toFixed(2)}×   ÷ undici-proxy ${(row.mainThread / of('undici-proxy', 'public')).toFixed(2)}×`,
      )
    }
  } finally {
    await upstream.stop()
    await stopAllChildren()
  }
}

await main()
