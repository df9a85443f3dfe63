/**
 * How exact one Redis-shared budget stays under load: two gatehouse processes on one Redis, a
 * user budget of 50/1m, one token, and bursts of 400, 2,000 and 10,000 concurrent requests split
 * between them. Prints each burst's admitted count. The gateways run in their own processes so
 * the client's 10,000 sockets and theirs fit the file-descriptor limit.
 *
 *   GATEHOUSE_TEST_REDIS_URL=redis://127.0.0.1:6379 npm run bench:shared-limit [-- 400 2000 10000] [50/1h]
 *
 * A rate argument replaces the budget: with 50/1h nothing refills during a burst, so any count
 * above 50 would be over-admission.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { stringify } from 'yaml'
import { parseRate } from '../src/units/index.ts'
import { burst } from '../test/support/burst.ts'
import { propelauthClaims, startIssuer } from '../test/support/issuer.ts'
import { startUpstream } from '../test/support/upstream.ts'
import { sleep, spawnChild, stopAllChildren, waitForLine } from './children.ts'
import { ROOT } from './targets/launch.ts'

const args = process.argv.slice(2)
const budget = parseRate(args.find((a) => a.includes('/')) ?? '50/1m')!
const counts = args.filter((a) => !a.includes('/')).map(Number)
const redisUrl = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-shared-limit-'))
const prefix = `gh:bench:${randomUUID()}:`
const [issuer, upstream] = await Promise.all([startIssuer(), startUpstream()])

try {
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      server: { listen: '127.0.0.1:0' },
      admin: { listen: '127.0.0.1:0' },
      upstream: { url: upstream.url },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      rate_limits: { user: budget.text },
      redis: { url: redisUrl, key_prefix: prefix },
      store: { url: 'sqlite:./gatehouse.db' },
      log: { level: 'info', access_log: false },
      routes: [{ path: '/api/*', auth: 'user' }],
    }),
  )
  const replicas = await Promise.all(
    ['a', 'b'].map(async (name) => {
      const child = spawnChild(
        name,
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'start', '--config', join(dir, 'gatehouse.yaml')],
        {
          dir,
          cwd: ROOT,
        },
      )
      const started = await waitForLine(child, (line) => {
        const entry = line.startsWith('{') ? (JSON.parse(line) as { msg?: string; gateway?: string; admin?: string }) : undefined
        return entry?.msg === 'gatehouse started' ? entry : undefined
      })
      while ((await fetch(`http://${started.admin}/readyz`)).status !== 200) await sleep(100)
      return { url: `http://${started.gateway}/api/x`, admin: `http://${started.admin}` }
    }),
  )
  for (const count of counts.length ? counts : [400, 2000, 10_000]) {
    const token = await issuer.sign(propelauthClaims(`bench-${count}-${randomUUID()}`))
    const got = await burst(
      replicas.map((r) => r.url),
      token,
      count,
    )
    // GCRA refills one request per window/limit: a burst lasting longer may admit that many more.
    const refills = Math.floor((got.elapsedMs * budget.limit) / budget.windowMs)
    const states = await Promise.all(
      replicas.map(
        async (r) => ((await (await fetch(`${r.admin}/readyz`)).json()) as { checks: { redis: { detail: unknown } } }).checks.redis.detail,
      ),
    )
    console.log(
      JSON.stringify({
        budget: budget.text,
        concurrent: count,
        // Past the limiter: the upstream's answer (200) or a 502 when the test upstream failed it.
        passed_limiter: count - got.refused,
        admitted: got.admitted,
        refused: got.refused,
        statuses: Object.fromEntries(got.statuses),
        elapsed_ms: Math.round(got.elapsedMs),
        refills_possible: refills,
        limiter: states,
      }),
    )
  }
} finally {
  await stopAllChildren()
  await upstream.close()
  await issuer.close()
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
  rmSync(dir, { recursive: true, force: true })
}
