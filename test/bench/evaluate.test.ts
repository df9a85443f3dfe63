import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { COMPARISONS, evaluateChecks, evaluateRatios, meets } from '../../bench/evaluate.ts'
import type { Comparison } from '../../bench/evaluate.ts'
import { measurement } from './fixtures.ts'

const hot = measurement({
  target: 'gatehouse',
  scenario: 'jwt-hot',
  cpu: { ticks: 0, usPerRequest: 35 },
  rps: 13_000,
  latencyMs: { p50: 2, p99: 6, p999: 9 },
})
const node = measurement({
  target: 'node-proxy',
  scenario: 'public',
  cpu: { ticks: 0, usPerRequest: 40 },
  rps: 12_000,
  latencyMs: { p50: 2, p99: 5, p999: 8 },
})
const fastify = measurement({
  target: 'fastify-stack',
  variant: 'cache on',
  scenario: 'jwt-hot',
  cpu: { ticks: 0, usPerRequest: 100 },
  rps: 9_000,
})

describe('meets', () => {
  it('treats the threshold itself as met, on both sides', () => {
    assert.equal(meets(1.0, { op: '<=', value: 1.0 }), true)
    assert.equal(meets(1.01, { op: '<=', value: 1.0 }), false)
    assert.equal(meets(0.6, { op: '>=', value: 0.6 }), true)
    assert.equal(meets(0.59, { op: '>=', value: 0.6 }), false)
  })
})

describe('evaluateRatios', () => {
  it('divides the two rows of the same run and judges against the threshold', () => {
    const [cpu, rps, p99] = evaluateRatios([hot, node], COMPARISONS.slice(0, 3))
    assert.equal(cpu!.ratio, 35 / 40)
    assert.equal(cpu!.status, 'PASS')
    assert.equal(rps!.ratio, 13_000 / 12_000)
    assert.equal(rps!.status, 'info')
    assert.equal(p99!.ratio, 6 / 5)
    assert.equal(p99!.status, 'PASS')
  })

  it('reports a MISS, with both values', () => {
    const c: Comparison = {
      numerator: { target: 'gatehouse', scenario: 'jwt-hot' },
      denominator: { target: 'fastify-stack', scenario: 'jwt-hot' },
      metric: 'cpu',
      threshold: { op: '<=', value: 0.3 },
    }
    const [r] = evaluateRatios([hot, fastify], [c])
    assert.equal(r!.status, 'MISS')
    assert.equal(r!.numeratorValue, 35)
    assert.equal(r!.denominatorValue, 100)
  })

  it('says n/a when a row is missing (nginx not installed) or has no figure', () => {
    const nginx = COMPARISONS.filter((c) => c.denominator.target === 'nginx')
    assert.ok(evaluateRatios([hot, node], nginx).every((r) => r.status === 'n/a' && r.ratio === null))
    const empty = measurement({ target: 'node-proxy', scenario: 'public', cpu: { ticks: 0, usPerRequest: Number.NaN } })
    assert.equal(evaluateRatios([hot, empty], COMPARISONS.slice(0, 1))[0]!.status, 'n/a')
  })
})

describe('API-key comparisons', () => {
  const keyHot = { target: 'gatehouse', scenario: 'apikey-hot' }
  const keyCold = { target: 'gatehouse', scenario: 'apikey-cold' }
  const targetsOf = (scenario: string) =>
    COMPARISONS.filter((c) => c.numerator.scenario === scenario && c.denominator.scenario !== 'apikey-hot').map((c) => ({
      denominator: c.denominator,
      metric: c.metric,
      threshold: c.threshold,
    }))

  it('holds apikey-hot to exactly the targets of jwt-hot', () => {
    assert.deepEqual(targetsOf('apikey-hot'), targetsOf('jwt-hot'))
    assert.equal(COMPARISONS.filter((c) => c.numerator.scenario === 'apikey-hot' && c.threshold).length, 5)
  })

  it('judges apikey-hot against node-proxy and fastify-stack', () => {
    const keyRow = measurement({ ...keyHot, cpu: { ticks: 0, usPerRequest: 44 }, rps: 11_000, latencyMs: { p50: 2, p99: 7, p999: 9 } })
    const ratios = evaluateRatios([keyRow, node, fastify]).filter((r) => r.numerator.scenario === 'apikey-hot')
    const cpuNode = ratios.find((r) => r.denominator.target === 'node-proxy' && r.metric === 'cpu')!
    assert.equal(cpuNode.ratio, 44 / 40)
    assert.equal(cpuNode.status, 'MISS')
    const cpuFastify = ratios.find((r) => r.denominator.target === 'fastify-stack' && r.metric === 'cpu')!
    assert.equal(cpuFastify.ratio, 0.44)
    assert.equal(cpuFastify.status, 'PASS')
    assert.equal(ratios.find((r) => r.denominator.target === 'fastify-stack' && r.metric === 'rps')!.ratio, 11_000 / 9_000)
    assert.ok(ratios.filter((r) => r.denominator.target === 'nginx').every((r) => r.status === 'n/a'))
  })

  it('reports apikey-cold beside apikey-hot and jwt-cold, with no target', () => {
    const cold = COMPARISONS.filter((c) => c.numerator.scenario === 'apikey-cold')
    assert.deepEqual(
      cold.map((c) => `${c.denominator.scenario} ${c.metric}`),
      ['apikey-hot cpu', 'apikey-hot rps', 'jwt-cold cpu'],
    )
    assert.ok(cold.every((c) => c.threshold === undefined))
    const rows = [
      measurement({ ...keyHot, cpu: { ticks: 0, usPerRequest: 40 } }),
      measurement({ ...keyCold, cpu: { ticks: 0, usPerRequest: 100 } }),
      measurement({ target: 'gatehouse', scenario: 'jwt-cold', cpu: { ticks: 0, usPerRequest: 200 } }),
    ]
    const [vsHot, , vsJwt] = evaluateRatios(rows, cold)
    assert.equal(vsHot!.ratio, 2.5)
    assert.equal(vsHot!.status, 'info')
    assert.equal(vsJwt!.ratio, 0.5)
  })
})

describe('evaluateChecks', () => {
  it('judges RSS with many identities and RSS growth during upload', () => {
    const upload = measurement({ target: 'gatehouse', scenario: 'upload', rssMB: { start: 90, end: 95, maxInWindow: 125, peak: 130 } })
    const memory = { identities: 100_000, elapsedS: 20, rssMB: { start: 70, end: 260, peak: 270 } }
    const [rss, growth] = evaluateChecks([upload], memory)
    assert.match(rss!.label, /100,000 distinct/)
    assert.equal(rss!.value, 260)
    assert.equal(rss!.status, 'MISS')
    assert.equal(growth!.value, 35)
    assert.equal(growth!.status, 'MISS')
  })

  it('says n/a for what was not measured', () => {
    assert.deepEqual(
      evaluateChecks([], undefined).map((c) => c.status),
      ['n/a', 'n/a', 'n/a', 'n/a'],
    )
  })

  it('judges what metrics cost as the CPU difference of jwt-hot with and without them', () => {
    const rows = [
      measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: 95.5 } }),
      measurement({ target: 'gatehouse', scenario: 'jwt-hot-nometrics', cpu: { ticks: 0, usPerRequest: 93 } }),
    ]
    const cost = evaluateChecks(rows, undefined).find((c) => c.label.startsWith('metrics cost'))!
    assert.equal(cost.value, 2.5)
    assert.equal(cost.status, 'PASS')
    rows[0] = measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: 97 } })
    assert.equal(evaluateChecks(rows, undefined).find((c) => c.label.startsWith('metrics cost'))!.status, 'MISS')
  })
})
