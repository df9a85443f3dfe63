// `npm run bench [-- --quick] [-- --postgres] [-- --only jwt-cold,memory]`: gatehouse against node-proxy, fastify-stack, nginx and HAProxy, in one run.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { killAllChildrenNow, stopAllChildren } from './children.ts'
import { COMPARISONS, evaluateChecks, evaluateRatios, headlineRows, signatureCostNotes } from './evaluate.ts'
import { measure } from './measure.ts'
import type { Measurement } from './measure.ts'
import { medianRound, memoryPhase } from './memory.ts'
import { metricsRecorderCost } from './metrics-cost.ts'
import type { MemoryPhase } from './memory.ts'
import { clockTicksPerSecond } from './proc.ts'
import { fmt, renderCpuChart, renderMarkdown, renderSummary, rowLabel, writeJson } from './report.ts'
import type { BenchResults, Machine } from './report.ts'
import { benchRuns, startBenchGatehouse } from './scenarios.ts'
import type { BenchContext, Run } from './scenarios.ts'
import { benchSettings } from './settings.ts'
import type { BenchSettings } from './settings.ts'
import { GATEHOUSE_PATHS } from './targets/gatehouse.ts'
import { ROOT, startNodeServer } from './targets/launch.ts'
import { findHaproxy, haproxyVersion } from './targets/haproxy.ts'
import { findNginx, nginxVersion } from './targets/nginx.ts'
import { createIssuer, mintRefusedTokens, mintTokens } from './tokens.ts'
import { workerNotes, workerRuns } from './workers.ts'

const CHART_FILE = 'bench-cpu.svg'
const NO_NGINX = 'nginx is not installed (apt-get install nginx-light): its rows and ratios are skipped.'
const NO_HAPROXY = 'haproxy is not installed (apt-get install haproxy): the haproxy-jwt row and its ratio are skipped.'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, postgres: { type: 'boolean', default: false }, only: { type: 'string' } },
  })
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').map((name) => name.trim()))
  const postgresUrl = values.postgres ? process.env.GATEHOUSE_TEST_POSTGRES_URL : undefined
  if (values.postgres && !postgresUrl)
    throw new Error('--postgres measures on the database of GATEHOUSE_TEST_POSTGRES_URL, which is not set')
  // A partial run is for development: its figures go to bench/results/partial.json, never to docs/.
  const settings = benchSettings(values.quick, only !== undefined)
  const started = Date.now()
  const loadStart = os.loadavg()
  console.log(`gatehouse bench (${settings.mode}): building dist/`)
  build()

  const dir = mkdtempSync(join(os.tmpdir(), 'gatehouse-bench-'))
  let succeeded = false
  try {
    const ctx = await prepareContext(settings, dir, postgresUrl)
    const runs = [...benchRuns(ctx), ...workerRuns(ctx)].filter((run) => !only || only.has(run.spec.scenario))
    const measurements = await runAll(ctx, runs, 'round 1')
    // Later rounds measure only the rows of the thresholded ratios again, so a noisy moment on a
    // shared machine does not decide a PASS: each ratio is judged on its median over the rounds.
    const headline = headlineRows()
    const repeated = runs.filter((run) => headline.some((row) => row.target === run.spec.target && row.scenario === run.spec.scenario))
    const repeats: Measurement[][] = []
    for (let round = 2; round <= settings.rounds; round++) repeats.push(await runAll(ctx, repeated, `round ${round}`))
    const memory = !only || only.has('memory') ? await runMemoryPhase(ctx) : null
    const recorderUs = await metricsRecorderCost()
    console.log(`metrics recorder: ${fmt(recorderUs, 2)} µs CPU per jwt-hot request, in-process`)
    const results: BenchResults = {
      mode: settings.mode,
      date: new Date().toISOString(),
      totalS: (Date.now() - started) / 1000,
      machine: machine(loadStart, ctx),
      settings: withoutMode(settings),
      measurements,
      repeats,
      memory,
      ratios: evaluateRatios(measurements, COMPARISONS, repeats),
      checks: evaluateChecks(measurements, memory ?? undefined, recorderUs, repeats),
      notes: [
        ...(ctx.nginx ? [] : [NO_NGINX]),
        ...(ctx.haproxy ? [] : [NO_HAPROXY]),
        ...workerNotes(measurements),
        ...signatureCostNotes([measurements, ...repeats]),
      ],
    }
    writeOutputs(results)
    console.log('\n' + renderSummary(results))
    succeeded = true
  } finally {
    await stopAllChildren()
    if (succeeded) rmSync(dir, { recursive: true, force: true })
    else console.error(`configs and child logs kept in ${dir}`)
  }
}

function build(): void {
  const { status } = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
  if (status !== 0) throw new Error(`npm run build failed (exit ${status}): the bench measures the built gateway`)
}

async function prepareContext(settings: BenchSettings, dir: string, postgresUrl: string | undefined): Promise<BenchContext> {
  const issuer = await createIssuer()
  const publicKeyFile = join(dir, 'issuer-public.pem')
  writeFileSync(publicKeyFile, issuer.publicKeyPem)
  const mintStart = Date.now()
  const userIds = Array.from({ length: settings.memoryIdentities }, (_, i) => `user-${i}`)
  const [hotToken, ...pool] = await mintTokens(issuer, ['hot-user', ...userIds])
  console.log(`minted ${(pool.length + 1).toLocaleString('en-US')} ES256 tokens in ${((Date.now() - mintStart) / 1000).toFixed(1)} s`)

  const nginx = findNginx()
  if (!nginx) console.log(`note: ${NO_NGINX}`)
  const haproxy = findHaproxy()
  if (!haproxy) console.log(`note: ${NO_HAPROXY}`)
  const refusedTokens = await mintRefusedTokens(issuer)
  const upstream = await startNodeServer('upstream', 'upstream.js', [], dir)
  return { settings, dir, upstream, issuer, publicKeyFile, hotToken: hotToken!, pool, nginx, haproxy, postgresUrl, refusedTokens }
}

async function runAll(ctx: BenchContext, runs: readonly Run[], round: string): Promise<Measurement[]> {
  const measurements: Measurement[] = []
  for (const [i, run] of runs.entries()) {
    process.stdout.write(
      `${round} [${i + 1}/${runs.length}] ${rowLabel({ target: run.spec.target, variant: run.spec.variant ?? '' })} · ${run.spec.scenario}: `,
    )
    const target = await run.start()
    try {
      const made = await run.prepare?.(target, measurements)
      const spec = made ? { ...run.spec, load: { ...run.spec.load, ...made } } : run.spec
      const m = await measure(target, spec, ctx.settings)
      // A crashed target turns into refused connections: that is a broken run, not a slow target.
      if (target.exited()) throw new Error(`${target.name} exited during the measurement (its log is in ${ctx.dir})`)
      if (m.requests === 0) throw new Error(`${target.name}: no request completed (${m.errors} errors); logs in ${ctx.dir}`)
      measurements.push(m)
      console.log(
        `${fmt(m.rps, 0)} req/s, p99 ${fmt(m.latencyMs.p99, 2)} ms, ${fmt(m.cpu.usPerRequest, 1)} µs CPU/req (kernel ${fmt(m.cpu.kernelUsPerRequest, 1)}), ` +
          `RSS ${fmt(m.rssMB.start, 1)} → ${fmt(m.rssMB.end, 1)} MB, errors ${m.errors}, unexpected ${m.unexpectedStatus}`,
      )
    } finally {
      await target.stop()
      await run.cleanUp?.()
    }
  }
  return measurements
}

async function runMemoryPhase(ctx: BenchContext): Promise<MemoryPhase> {
  const tokens = ctx.pool.slice(0, ctx.settings.memoryIdentities)
  const rounds: MemoryPhase[] = []
  for (let round = 1; round <= ctx.settings.rounds; round++) {
    process.stdout.write(`memory phase, round ${round}: ${tokens.length.toLocaleString('en-US')} distinct identities: `)
    const target = await startBenchGatehouse(ctx, `memory-${round}`)
    try {
      const memory = await memoryPhase(target, GATEHOUSE_PATHS.user, tokens, ctx.settings.connections)
      console.log(`RSS ${fmt(memory.rssMB.start, 1)} → ${fmt(memory.rssMB.end, 1)} MB (VmHWM ${fmt(memory.rssMB.peak, 1)} MB)`)
      rounds.push(memory)
    } finally {
      await target.stop()
    }
  }
  return medianRound(rounds)
}

/** Full runs rewrite the docs; quick runs only leave their JSON, so the published figures stay full ones. */
function writeOutputs(results: BenchResults): void {
  if (results.mode !== 'full') {
    writeJson(join(ROOT, 'bench', 'results', `${results.mode}.json`), results)
    console.log(`\nwrote bench/results/${results.mode}.json (quick and partial runs do not touch docs/)`)
    return
  }
  writeJson(join(ROOT, 'bench', 'results', 'latest.json'), results)
  writeFileSync(join(ROOT, 'docs', CHART_FILE), renderCpuChart(results.measurements))
  writeFileSync(join(ROOT, 'docs', 'BENCHMARKS.md'), renderMarkdown(results, CHART_FILE))
  console.log(`\nwrote bench/results/latest.json, docs/BENCHMARKS.md, docs/${CHART_FILE}`)
}

function machine(loadStart: number[], { nginx, haproxy }: BenchContext): Machine {
  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGB: os.totalmem() / 2 ** 30,
    clockTicksPerSecond: clockTicksPerSecond(),
    loadAverage: { start: loadStart, end: os.loadavg() },
    nginx: nginx ? nginxVersion(nginx) : null,
    haproxy: haproxy ? haproxyVersion(haproxy) : null,
  }
}

function withoutMode({ mode: _mode, ...rest }: BenchSettings): Omit<BenchSettings, 'mode'> {
  return rest
}

// Children must not outlive the harness: stop them on Ctrl-C, and kill any left when exiting.
process.on('exit', killAllChildrenNow)
process.once('SIGINT', () => {
  console.error('\ninterrupted: stopping child processes')
  void stopAllChildren().finally(() => process.exit(130))
})

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error)
    process.exit(1)
  },
)
