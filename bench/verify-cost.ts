// `npm run bench:verify-cost`: what token verification costs in this process, without HTTP: the
// signature check alone, gatehouse's token verifier on a cache miss (jwt-cold: the signature plus
// header, key, claims, identity mapping, freezing and the identity cache's insert with its
// eviction), and on a cache hit (jwt-hot's lookup).
import { createPublicKey, verify } from 'node:crypto'
import { createTokenVerifier } from '../src/authn/index.ts'
import { issuerConfig, ROLES } from '../test/authn/fixtures.ts'
import { median } from './evaluate.ts'
import { createIssuer, mintTokens } from './tokens.ts'

// As jwt-cold: 3,000 distinct users' tokens against a 100-entry cache, so every call verifies.
const TOKENS = 3_000
const CACHE_ENTRIES = 100
const CALLS_PER_RUN = 15_000
const RUNS = 5

type Layer = { name: string; call: (token: string, index: number) => unknown }

async function cpuUsPerCall(call: Layer['call'], tokens: readonly string[]): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < CALLS_PER_RUN; i++) {
    const index = i % tokens.length
    const result = call(tokens[index]!, index)
    if (result instanceof Promise) await result
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / CALLS_PER_RUN
}

async function main(): Promise<void> {
  const issuer = await createIssuer()
  const tokens = await mintTokens(
    issuer,
    Array.from({ length: TOKENS }, (_, i) => `user-${i}`),
  )
  const config = issuerConfig({ issuer: issuer.issuer, publicKey: issuer.publicKeyPem, algorithms: ['ES256'] })
  const publicKey = createPublicKey(issuer.publicKeyPem)
  const signed = tokens.map((token) => {
    const dot = token.lastIndexOf('.')
    return { input: Buffer.from(token.slice(0, dot), 'latin1'), signature: Buffer.from(token.slice(dot + 1), 'base64url') }
  })
  const tokenVerifier = await createTokenVerifier({
    issuers: [config],
    leewayMs: 0,
    cache: { maxEntries: CACHE_ENTRIES, ttlMs: 300_000 },
    jwks: { cooldownMs: 0, refreshMs: 600_000, timeoutMs: 1000 },
    roles: ROLES,
    configDir: '.',
  })
  const layers: Layer[] = [
    {
      name: 'signature check (node:crypto.verify)',
      call: (_, i) => verify('sha256', signed[i]!.input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signed[i]!.signature),
    },
    { name: 'token verifier, cache miss', call: (token) => tokenVerifier.verify(token) },
    { name: 'token verifier, cache hit', call: () => tokenVerifier.verify(tokens[0]!) },
  ]
  // Interleaved, so that a busy moment of the machine falls on every layer alike.
  const runs = layers.map((): number[] => [])
  for (let run = 0; run < RUNS; run++) {
    for (const [i, layer] of layers.entries()) runs[i]!.push(await cpuUsPerCall(layer.call, tokens))
  }
  console.log(
    `CPU µs per call, median of ${RUNS} interleaved runs of ${CALLS_PER_RUN.toLocaleString('en-US')} calls over ${TOKENS.toLocaleString('en-US')} tokens`,
  )
  for (const [i, layer] of layers.entries()) {
    const perRun = runs[i]!
    console.log(`${layer.name.padEnd(40)} ${median(perRun)!.toFixed(1).padStart(6)}   runs ${perRun.map((r) => r.toFixed(1)).join(', ')}`)
  }
  tokenVerifier.close()
}

await main()
