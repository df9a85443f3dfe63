import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createJwksSource, InvalidTokenError, KeySourceUnavailableError } from '../../src/authn/index.ts'
import { createKey, eventually, sign, startJwksServer } from './fixtures.ts'

const es = await createKey('ES256', 'es-1')
const es2 = await createKey('ES256', 'es-2')

const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string }
const partsOf = (token: string) => {
  const [protectedHeader, payload, signature] = token.split('.')
  return { protected: protectedHeader!, payload: payload!, signature: signature! }
}

async function keyFor(source: ReturnType<typeof createJwksSource>, token: string) {
  return source.getKey(headerOf(token), partsOf(token))
}

test('a failed refresh keeps the keys fetched before, and reports the failure', async (t) => {
  const server = await startJwksServer([es.jwk])
  const failures: KeySourceUnavailableError[] = []
  const source = createJwksSource({
    url: `${server.url}?secret=s3cr3t`,
    cooldownMs: 60_000,
    refreshMs: 600_000,
    timeoutMs: 500,
    onError: (error) => failures.push(error),
  })
  t.after(async () => {
    source.close()
    await server.close()
  })
  await eventually(() => source.ready())
  const token = await sign(es)
  await keyFor(source, token)

  for (const mode of ['error', 'garbage'] as const) {
    server.state.mode = mode
    await assert.rejects(source.refresh(), KeySourceUnavailableError)
    await keyFor(source, token)
  }
  server.state.mode = 'ok'
  server.state.keys = []
  await assert.rejects(source.refresh(), (error: KeySourceUnavailableError) => /no public signing key/.test(error.reason))
  await keyFor(source, token)

  assert.equal(failures.length, 3)
  for (const failure of failures) assert.equal(failure.reason.includes('s3cr3t'), false)
})

test('keys are refreshed periodically in the background', async (t) => {
  const server = await startJwksServer([es.jwk])
  const source = createJwksSource({ url: server.url, cooldownMs: 60_000, refreshMs: 1000, timeoutMs: 500 })
  t.after(async () => {
    source.close()
    await server.close()
  })
  await eventually(() => source.ready())
  server.state.keys = [es2.jwk]
  const token = await sign(es2)
  // Within the cooldown no refetch happens for an unknown kid: only the periodic refresh can find this key.
  await eventually(
    () =>
      keyFor(source, token).then(
        () => true,
        () => false,
      ),
    3000,
  )
  assert.equal(server.state.fetches, 2)
})

test('a lookup that comes while a fetch is under way waits for it; within the cooldown after it, an unknown kid is 503', async (t) => {
  const server = await startJwksServer([es.jwk])
  const source = createJwksSource({ url: server.url, cooldownMs: 60_000, refreshMs: 600_000, timeoutMs: 500 })
  t.after(async () => {
    source.close()
    await server.close()
  })
  await eventually(() => source.ready())
  server.state.keys = [es.jwk, es2.jwk]
  const ghost = await createKey('ES256', 'ghost')
  const [rotated, stray] = [await sign(es2), await sign(ghost)]
  const underWay = source.refresh()
  await Promise.all([keyFor(source, rotated), assert.rejects(keyFor(source, stray), InvalidTokenError), underWay])
  assert.equal(server.state.fetches, 2, 'both lookups shared the fetch under way')

  await assert.rejects(keyFor(source, stray), (error: KeySourceUnavailableError) => {
    assert.ok(error instanceof KeySourceUnavailableError)
    assert.match(error.reason, /cooldown/)
    const retryAfter = Number(error.headers['retry-after'])
    assert.ok(retryAfter >= 59 && retryAfter <= 60, `Retry-After ${retryAfter}: the seconds left of the cooldown`)
    return true
  })
  assert.equal(server.state.fetches, 2)
})
