import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { accessLogFields, createAccessLogWriter } from '../../src/log.ts'
import type { AccessOutcome } from '../../src/log.ts'

function writtenLines(): { lines: string[]; write: ReturnType<typeof createAccessLogWriter> } {
  const lines: string[] = []
  const log = pino({ base: undefined }, { write: (line: string) => void lines.push(line) })
  return { lines, write: createAccessLogWriter(log) }
}

describe('the access-log line', () => {
  // Paths reach the log as the client sent them: quotes, backslashes, control and non-ASCII
  // characters, a lone surrogate must come out as JSON.stringify writes them.
  const awkward = [
    '/plain',
    '/"quoted"',
    '/back\\slash',
    '/tab\there',
    '/nul\u0000',
    '/del\u007f',
    '/caf\u00e9',
    '/\ud83d\ude00',
    '/lone\ud800',
    '/</script>',
  ]

  for (const path of awkward) {
    it(`writes ${JSON.stringify(path)} as JSON.stringify does`, () => {
      const { lines, write } = writtenLines()
      const outcome: AccessOutcome = { status: 200, requestId: 'req-1', error: path.slice(1) }
      write({ method: 'GET', url: `${path}?q=1` }, outcome, performance.now())
      assert.equal(lines.length, 1)
      const line = lines[0]!
      assert.ok(line.includes(`"path":${JSON.stringify(path)}`), line)
      assert.ok(line.includes(`"error":${JSON.stringify(path.slice(1))}`), line)
      const parsed = JSON.parse(line) as Record<string, unknown>
      assert.equal(parsed.path, path)
      assert.equal(parsed.status, 200)
      assert.equal(parsed.msg, 'request')
    })
  }

  it('holds every field accessLogFields gives, numbers as numbers, and the time of its millisecond', () => {
    const { lines, write } = writtenLines()
    const req = { method: 'POST', url: '/api/x' }
    const outcome: AccessOutcome = { status: 503, requestId: 'abc', reason: 'internal_error', original: { method: 'GET', path: '/o' } }
    const before = Date.now()
    write(req, outcome, performance.now() - 12.3456)
    const after = Date.now()
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>
    const expected = JSON.parse(JSON.stringify(accessLogFields(req, outcome, performance.now()))) as Record<string, unknown>
    for (const name of Object.keys(expected)) if (name !== 'duration_ms') assert.deepEqual(parsed[name], expected[name], name)
    assert.equal(typeof parsed.duration_ms, 'number')
    assert.ok((parsed.duration_ms as number) >= 12.345)
    const time = Date.parse(parsed.time as string)
    assert.ok(time >= before && time <= after, `${String(parsed.time)} within [${before}, ${after}]`)
    assert.equal(parsed.time, new Date(time).toISOString())
  })
})
