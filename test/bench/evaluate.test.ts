import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { COMPARISONS, evaluateChecks, evaluateRatios, headlineRows, median, meets, signatureCostNotes } from '../../bench/evaluate.ts'
import type { Comparison } from '../../bench/evaluate.ts'
import { measurement } from './fixtures.ts'

const hot = measurement({
  target: 'gatehouse',
  scenario: 'jwt-hot',
  cpu: { ticks: 0, usPerRequest: 30 },
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
  it('reports node-proxy, gatehouse public and jwt-hot beside the undici floor, for information only', () => {
    const floor = measurement({ target: 'undici-proxy', scenario: 'public', cpu: { ticks: 0, usPerRequest: 25 } })
    const publicRow = measurement({ target: 'gatehouse', scenario: 'public', cpu: { ticks: 0, usPerRequest: 28 } })
    const beside = evaluateRatios([hot, node, floor, publicRow]).filter((r) => r.denominator.target === 'undici-proxy' && r.ratio !== null)
    assert.deepEqual(
      beside.map((r) => [`${r.numerator.target} ${r.numerator.scenario}`, r.ratio, r.status]),
      [
        ['gatehouse jwt-hot', 30 / 25, 'info'],
        ['node-proxy public', 40 / 25, 'info'],
        ['gatehouse public', 28 / 25, 'info'],
      ],
    )
  })

  it('divides the two rows of the same run and judges against the threshold', () => {
    const [cpu, rps, p99] = evaluateRatios([hot, node], COMPARISONS.slice(0, 3))
    assert.equal(cpu!.ratio, 30 / 40)
    assert.equal(cpu!.status, 'PASS')
    assert.deepEqual(cpu!.samples, [30 / 40])
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
      threshold: { op: '<=', value: 0.25 },
    }
    const [r] = evaluateRatios([hot, fastify], [c])
    assert.equal(r!.status, 'MISS')
    assert.equal(r!.numeratorValue, 30)
    assert.equal(r!.denominatorValue, 100)
  })

  it('says n/a when a row is missing (nginx not installed) or has no figure', () => {
    const nginx = COMPARISONS.filter((c) => c.denominator.target === 'nginx')
    assert.ok(evaluateRatios([hot, node], nginx).every((r) => r.status === 'n/a' && r.ratio === null))
    const empty = measurement({ target: 'node-proxy', scenario: 'public', cpu: { ticks: 0, usPerRequest: Number.NaN } })
    assert.equal(evaluateRatios([hot, empty], COMPARISONS.slice(0, 1))[0]!.status, 'n/a')
  })

  it('judges a ratio on the median of its rounds, listing each round', () => {
    const hotAt = (us: number) => measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: us } })
    // Round 1 misses 0.8× (36 ÷ 40); the two later rounds pass: the median passes.
    const [cpu] = evaluateRatios([hotAt(36), node], COMPARISONS.slice(0, 1), [
      [hotAt(30), node],
      [hotAt(28), node],
    ])
    assert.deepEqual(cpu!.samples, [0.9, 0.75, 0.7])
    assert.equal(cpu!.ratio, 0.75)
    assert.equal(cpu!.status, 'PASS')
    assert.equal(cpu!.numeratorValue, 36)
    // One noisy round out of three does not make a MISS either way round.
    const [missed] = evaluateRatios([hotAt(30), node], COMPARISONS.slice(0, 1), [
      [hotAt(36), node],
      [hotAt(34), node],
    ])
    assert.equal(missed!.ratio, 0.85)
    assert.equal(missed!.status, 'MISS')
  })

  it('a round without one of the rows adds no sample', () => {
    const [cpu] = evaluateRatios([hot, node], COMPARISONS.slice(0, 1), [[hot]])
    assert.deepEqual(cpu!.samples, [0.75])
  })
})

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.equal(median([]), null)
  })
})

describe('headlineRows', () => {
  it('names each row of a thresholded ratio once, and no row only compared for information', () => {
    const rows = headlineRows().map((r) => `${r.target} ${r.scenario}`)
    assert.equal(new Set(rows).size, rows.length)
    for (const row of [
      'gatehouse jwt-hot',
      'node-proxy public',
      'gatehouse jwt-hot+log',
      'haproxy-jwt jwt-cold',
      'gatehouse apikey-cold',
    ]) {
      assert.ok(rows.includes(row), row)
    }
    assert.ok(!rows.includes('gatehouse jwt-hot+bind'))
  })

  it('also repeats the rows of the metrics-cost difference, the undici floor, HAProxy without its token check and the paced key', () => {
    const rows = headlineRows().map((r) => `${r.target} ${r.scenario}`)
    for (const row of [
      'gatehouse jwt-hot-nometrics',
      'undici-proxy public',
      'gatehouse public',
      'haproxy public',
      'gatehouse apikey-hot-paced',
    ]) {
      assert.ok(rows.includes(row), row)
    }
    assert.equal(new Set(rows).size, rows.length)
  })
})

describe('issue 18 targets', () => {
  const find = (num: string, den: string) =>
    COMPARISONS.find(
      (c) =>
        `${c.numerator.target} ${c.numerator.scenario}` === num &&
        `${c.denominator.target} ${c.denominator.scenario}` === den &&
        c.metric === 'cpu',
    )
  it('holds jwt-cold to 1.3× haproxy-jwt, and jwt-hot to 0.8× node-proxy, 0.9× with the access log on', () => {
    assert.deepEqual(find('gatehouse jwt-cold', 'haproxy-jwt jwt-cold')!.threshold, { op: '<=', value: 1.3 })
    assert.deepEqual(find('gatehouse jwt-hot', 'node-proxy public')!.threshold, { op: '<=', value: 0.8 })
    assert.deepEqual(find('gatehouse jwt-hot+log', 'node-proxy public')!.threshold, { op: '<=', value: 0.9 })
    assert.deepEqual(find('gatehouse jwt-hot+log', 'gatehouse jwt-hot')!.threshold, { op: '<=', value: 1.15 })
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

  it('holds apikey-cold to 2.0× apikey-hot, and reports it beside the paced key and jwt-cold for information', () => {
    const cold = COMPARISONS.filter((c) => c.numerator.scenario === 'apikey-cold')
    assert.deepEqual(
      cold.map((c) => `${c.denominator.scenario} ${c.metric}`),
      ['apikey-hot cpu', 'apikey-hot rps', 'apikey-hot-paced cpu', 'jwt-cold cpu'],
    )
    assert.deepEqual(
      cold.map((c) => c.threshold),
      [{ op: '<=', value: 2.0 }, undefined, undefined, undefined],
    )
    const rows = [
      measurement({ ...keyHot, cpu: { ticks: 0, usPerRequest: 40 } }),
      measurement({ ...keyCold, cpu: { ticks: 0, usPerRequest: 100 } }),
      measurement({ target: 'gatehouse', scenario: 'apikey-hot-paced', cpu: { ticks: 0, usPerRequest: 50 } }),
      measurement({ target: 'gatehouse', scenario: 'jwt-cold', cpu: { ticks: 0, usPerRequest: 200 } }),
    ]
    const [vsHot, , vsPaced, vsJwt] = evaluateRatios(rows, cold)
    assert.equal(vsHot!.ratio, 2.5)
    assert.equal(vsHot!.status, 'MISS')
    assert.equal(vsPaced!.ratio, 2)
    assert.equal(vsPaced!.status, 'info')
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
      ['n/a', 'n/a', 'n/a', 'n/a', 'n/a'],
    )
  })

  it("judges apikey-cold's tail as its p99.9 over its p50", () => {
    const cold = (p999: number) => measurement({ target: 'gatehouse', scenario: 'apikey-cold', latencyMs: { p50: 2, p99: 5, p999 } })
    const tail = (p999: number) => evaluateChecks([cold(p999)], undefined).find((c) => c.label.startsWith('apikey-cold'))!
    assert.equal(tail(20).value, 10)
    assert.equal(tail(20).status, 'PASS')
    assert.equal(tail(356).status, 'MISS')
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

  it('judges the metrics cost on the median of the rounds, so one noisy round does not decide it', () => {
    const round = (hot: number, off: number) => [
      measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: hot } }),
      measurement({ target: 'gatehouse', scenario: 'jwt-hot-nometrics', cpu: { ticks: 0, usPerRequest: off } }),
    ]
    const cost = evaluateChecks(round(105, 85), undefined, undefined, [round(74, 72), round(91, 89.5)]).find((c) =>
      c.label.startsWith('metrics cost: CPU'),
    )!
    assert.equal(cost.value, 2)
    assert.equal(cost.status, 'PASS')
  })
})

describe('signatureCostNotes', () => {
  const row = (target: string, scenario: string, usPerRequest: number) => measurement({ target, scenario, cpu: { ticks: 0, usPerRequest } })
  const round = (cold: number, hot: number, peer: number, plain: number) => [
    row('gatehouse', 'jwt-cold', cold),
    row('gatehouse', 'jwt-hot', hot),
    row('haproxy-jwt', 'jwt-cold', peer),
    row('haproxy', 'public', plain),
  ]

  it("sets each stack's signature cost and the floor it makes beside haproxy-jwt, medians of the rounds", () => {
    const [note] = signatureCostNotes([round(230, 80, 120, 40), round(260, 70, 130, 30), round(250, 90, 110, 50)])
    assert.match(note!, /adds 160\.0 µs CPU per request to gatehouse .* and 80\.0 µs to HAProxy/)
    // jwt-hot's median 80 + HAProxy's check 80 = 160, over haproxy-jwt's median 120.
    assert.match(note!, /is 160\.0 µs, 1\.33× haproxy-jwt \(120\.0 µs\)/)
  })

  it('says nothing when a round lacks a row (HAProxy not installed)', () => {
    assert.deepEqual(signatureCostNotes([round(230, 80, 120, 40).slice(0, 3)]), [])
  })
})
