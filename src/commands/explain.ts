import { parseArgs } from 'node:util'
import type { LoadedConfig } from '../config/index.ts'
import { explainRequest, formatExplanation } from '../explain/index.ts'
import { createLogger } from '../log.ts'
import { openDecision } from '../server.ts'

export const EXPLAIN_USAGE = `usage: gatehouse explain [--config FILE] [--method M] PATH [--token T | --api-key K] [--header NAME:VALUE]... [--client-ip IP] [--json]

Decides PATH as the gateway with this config would: the rules walked, the identity the credential
yields, the authorization requirements, the budgets as they stand (not spent) and the answer.
Opens the store and fetches the issuers' keys as start does; listens on nothing and contacts no
upstream. Without redis.url the budgets are this process's own, so always full: ask a running
gateway with POST /v1/explain for its budgets.`

/** `gatehouse explain …` (the words after `explain`): exit 0 when explained, 1 on a config or start error, 2 on an argument error. */
export async function runExplainCommand(args: string[], load: (file: string | undefined) => LoadedConfig | undefined): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        method: { type: 'string', short: 'X', default: 'GET' },
        token: { type: 'string' },
        'api-key': { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true, default: [] },
        'client-ip': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    return usageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(EXPLAIN_USAGE)
    return 0
  }
  if (positionals.length !== 1 || !positionals[0]!.startsWith('/')) return usageError('give one PATH starting with /')
  if (values.token !== undefined && values['api-key'] !== undefined) return usageError('--token and --api-key: give one credential')
  if (!/^[A-Za-z]+$/.test(values.method)) return usageError(`--method: "${values.method}" is not an HTTP method`)
  const headers: [string, string][] = []
  for (const line of values.header) {
    const colon = line.indexOf(':')
    if (colon <= 0) return usageError(`--header: "${line}" is not NAME:VALUE`)
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()])
  }
  const loaded = load(values.config)
  if (!loaded) return 1
  // The log goes to stderr: stdout is the explanation (JSON with --json).
  const log = createLogger(loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level, 2)
  let opened
  try {
    opened = await openDecision(loaded, log)
  } catch (err) {
    console.error(`gatehouse explain: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
  try {
    const explanation = await explainRequest(
      { decide: opened.decide, routes: loaded.routes },
      {
        method: values.method,
        target: positionals[0]!,
        token: values.token,
        apiKey: values['api-key'],
        headers,
        clientIp: values['client-ip'],
      },
    )
    console.log(values.json ? JSON.stringify(explanation, null, 2) : formatExplanation(explanation))
    return 0
  } finally {
    await opened.close()
    await new Promise<void>((done) => log.flush(() => done()))
  }
}

function usageError(message: string): number {
  console.error(`gatehouse explain: ${message}\n\n${EXPLAIN_USAGE}`)
  return 2
}
