import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { probeIssuer } from './authn/index.ts'
import { connectToPrimary } from './cluster/index.ts'
import { ConfigError, configWarnings, loadConfig } from './config/index.ts'
import type { LoadedConfig } from './config/index.ts'
import { DIRECTORY_USAGE, runDirectoryCommand, runExplainCommand, runInit } from './commands/index.ts'
import { runDemo } from './demo.ts'
import { createLogger } from './log.ts'
import { describeRequirements } from './rules/index.ts'
import type { CompiledRoute } from './rules/index.ts'
import { ListenError, startGatehouse } from './server.ts'
import type { StartOptions } from './server.ts'

const USAGE = `usage: gatehouse <command> [--config FILE]

commands:
  start   run the gateway and admin listeners
  check   validate the config and print the compiled route table; with --online, also fetch
          each issuer's discovery document and JWKS and report what they offer
  demo    run an echo upstream behind gatehouse with a demo user, org and token
  explain [--method M] PATH [--token T | --api-key K] [--header NAME:VALUE] [--json]
          how the gateway would decide a request, stage by stage, without spending a budget
  init    write a commented starter config (--config, default ./gatehouse.yaml); never overwrites
${DIRECTORY_USAGE}

--config defaults to $GATEHOUSE_CONFIG, then ./gatehouse.yaml`

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'demo') return runDemo()
  if (argv[0] === 'explain') return runExplainCommand(argv.slice(1), (file) => load(file ?? configFile([])))
  const directory = await runDirectoryCommand(argv, () => load(configFile(argv)))
  if (directory !== undefined) return directory
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, online: { type: 'boolean' } },
    })
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const [command] = parsed.positionals
  if (parsed.values.help || !command) {
    console.log(USAGE)
    return command || parsed.values.help ? 0 : 2
  }
  const file = configFile(argv)
  switch (command) {
    case 'check':
      return check(file, parsed.values.online === true)
    case 'start':
      return start(file)
    case 'init':
      return runInit(file)
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

function configFile(argv: string[]): string {
  const { values } = parseArgs({ args: argv, strict: false, options: { config: { type: 'string', short: 'c' } } })
  return (typeof values.config === 'string' ? values.config : undefined) ?? process.env.GATEHOUSE_CONFIG ?? './gatehouse.yaml'
}

function load(file: string): LoadedConfig | undefined {
  try {
    return loadConfig(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return undefined
  }
}

async function check(file: string, online: boolean): Promise<number> {
  const loaded = load(file)
  if (!loaded) return 1
  console.log(`${file}: valid, ${loaded.routes.routes.length} routes (first match wins; anything else is denied)`)
  console.log(formatRouteTable(loaded.routes.routes))
  for (const warning of configWarnings(loaded.config)) console.warn(`warning: ${warning}`)
  return online ? checkOnline(loaded) : 0
}

/** Fetches each remote issuer's keys as start would, and fails when one cannot be had or none of its keys fits the pinned algorithms. */
async function checkOnline(loaded: LoadedConfig): Promise<number> {
  const remote = loaded.config.tokens.issuers.filter((issuer) => issuer.jwksUrl || issuer.discovery)
  const probes = await Promise.all(remote.map((issuer) => probeIssuer(issuer, { timeoutMs: loaded.config.tokens.jwks.timeoutMs })))
  let failed = false
  for (const probe of probes) {
    console.log(`issuer ${probe.issuer}`)
    if (probe.discoveryUrl) console.log(`  discovery: ${probe.discoveryUrl}`)
    if (probe.jwksUrl)
      console.log(
        `  jwks: ${probe.jwksUrl}${probe.keyCount === undefined ? '' : ` (${probe.keyCount} ${probe.keyCount === 1 ? 'key' : 'keys'})`}`,
      )
    console.log(`  algorithms offered: ${probe.offered.join(', ') || 'none stated'}; pinned: ${probe.pinned.join(', ')}`)
    if (probe.error) {
      console.error(`  error: ${probe.error}`)
      failed = true
    } else if (probe.offered.length > 0 && !probe.offered.some((alg) => probe.pinned.includes(alg))) {
      console.error('  error: none of the algorithms offered is pinned: every token of this issuer would be refused')
      failed = true
    }
  }
  if (probes.length === 0) console.log('no issuer with jwks_url or discovery to fetch')
  return failed ? 1 : 0
}

export function formatRouteTable(routes: readonly CompiledRoute[]): string {
  const rows = routes.map((r) => [
    String(r.index),
    r.listsMethods ? [...r.methods].join(',') : '*',
    r.pattern,
    r.auth,
    describeRequirements(r).join(' '),
    r.rateLimit?.text ?? '',
  ])
  const header = ['#', 'METHODS', 'PATH', 'AUTH', 'REQUIRES', 'RATE']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/**
 * With server.workers > 1 this process becomes the cluster's primary and forks the workers, which
 * run this same command and find themselves workers (node:cluster).
 */
async function start(file: string): Promise<number> {
  const loaded = load(file)
  if (!loaded) return 1
  const primary = cluster.isWorker ? connectToPrimary() : undefined
  const side: StartOptions['cluster'] = primary
    ? { role: 'worker', primary }
    : loaded.config.server.workers > 1
      ? { role: 'primary' }
      : undefined
  // In a cluster every line says which process wrote it.
  const root = createLogger(loaded.config.log.level)
  const log = primary ? root.child({ pid: process.pid, worker: cluster.worker!.id }) : side ? root.child({ pid: process.pid }) : root
  let running
  try {
    running = await startGatehouse(loaded, { log, cluster: side })
    if (!primary) for (const warning of configWarnings(loaded.config)) running.log.warn({ warning }, 'config warning')
  } catch (err) {
    // A port in use is an operator's mistake, not a crash: one line naming the config key, no stack.
    if (!(err instanceof ListenError)) throw err
    console.error(`gatehouse: ${err.message}`)
    return 1
  }
  // SIGHUP reloads the config (Node's default for it ends the process); a reload reports its own
  // outcome in the log. A worker reloads when its primary asks, so a signal to the whole process
  // group reloads once.
  const reload = primary ? () => {} : () => void running.reload()
  process.on('SIGHUP', reload)
  await new Promise<void>((resolveSignal) => {
    const stop = (signal: NodeJS.Signals | 'primary gone') => {
      running.log.info({ signal }, 'shutting down')
      resolveSignal()
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    primary?.onPrimaryGone(() => stop('primary gone'))
  })
  await running.close()
  process.off('SIGHUP', reload)
  return 0
}
