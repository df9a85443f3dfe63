import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { evaluateChecks, evaluateRatios } from '../../bench/evaluate.ts'
import { escapeCell, fmt, renderCpuChart, renderMarkdown, renderSummary } from '../../bench/report.ts'
import type { BenchResults } from '../../bench/report.ts'
import { benchSettings } from '../../bench/settings.ts'
import { measurement } from './fixtures.ts'

function results(): BenchResults {
  const measurements = [
    measurement({ target: 'node-proxy', scenario: 'public', cpu: { ticks: 0, usPerRequest: 40 } }),
    measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: 36.04, kernelUsPerRequest: 14.26 } }),
    measurement({
      target: 'fastify-stack',
      variant: 'cache on',
      scenario: 'jwt-hot',
      cpu: { ticks: 0, usPerRequest: 120, kernelUsPerRequest: Number.NaN },
    }),
    measurement({ target: 'gatehouse', scenario: 'rate-limited', expectedStatus: 429, statusCounts: { 429: 100_000 } }),
    measurement({ target: 'gatehouse', scenario: 'apikey-hot', cpu: { ticks: 0, usPerRequest: 38 } }),
    measurement({ target: 'gatehouse', scenario: 'apikey-cold', cpu: { ticks: 0, usPerRequest: 95 } }),
  ]
  const memory = { identities: 100_000, elapsedS: 25, rssMB: { start: 70, end: 180.25, peak: 190 } }
  const { mode: _mode, ...settings } = benchSettings(false, false)
  return {
    mode: 'full',
    date: '2025-01-02T03:04:05.000Z',
    totalS: 200,
    machine: {
      cores: 2,
      cpuModel: 'AMD EPYC | test',
      node: 'v20.20.2',
      os: 'Linux 6.1 x64',
      memoryGB: 4,
      clockTicksPerSecond: 100,
      loadAverage: { start: [0.5, 0, 0], end: [1.5, 0, 0] },
      nginx: null,
      haproxy: null,
    },
    settings,
    measurements,
    repeats: [],
    memory,
    ratios: evaluateRatios(measurements),
    checks: evaluateChecks(measurements, memory),
    notes: ['nginx is not installed (apt-get install nginx-light): its rows and ratios are skipped.'],
  }
}

describe('renderMarkdown', () => {
  const md = renderMarkdown(results(), 'bench-cpu.svg')

  it('states the machine and the date, escaping table cells', () => {
    assert.match(md, /2025-01-02T03:04:05\.000Z/)
    assert.match(md, /\| CPU \| 2 × AMD EPYC \\\| test \|/)
    assert.match(md, /\| Node \| v20\.20\.2 \|/)
    assert.match(md, /\| nginx \| not installed \|/)
  })

  it('has one table per measured scenario, with a row per target', () => {
    assert.match(md, /### jwt-hot\n/)
    assert.match(md, /\| gatehouse \| 32 \| 10,000 \| 2\.00 \| 8\.00 \| 12\.00 \| \*\*36\.0\*\* \| 14\.3 \|/)
    // A kernel share that could not be computed shows as none.
    assert.match(md, /\| fastify-stack \(cache on\) \| 32 \| 10,000 \| 2\.00 \| 8\.00 \| 12\.00 \| \*\*120\.0\*\* \| — \|/)
    assert.doesNotMatch(md, /### jwt-cold/)
    assert.match(md, /0 \(all 429\)/)
  })

  it('lists every ratio with its target and status, missing rows as n/a', () => {
    assert.match(
      md,
      /\| gatehouse jwt-hot ÷ node-proxy public \| CPU µs\/request \| 36\.04 ÷ 40\.00 \| 0\.90× \| — \| ≤ 0\.8× \| \*\*MISS\*\* \|/,
    )
    assert.match(
      md,
      /\| gatehouse jwt-hot ÷ fastify-stack jwt-hot \| CPU µs\/request \| 36\.04 ÷ 120\.00 \| 0\.30× \| — \| ≤ 0\.7× \| \*\*PASS\*\* \|/,
    )
    assert.match(md, /\| gatehouse jwt-hot ÷ nginx public \| throughput \(req\/s\) \| 10,000\.00 ÷ — \| — \| — \| ≥ 0\.6× \| n\/a \|/)
    assert.match(md, /\| gatehouse RSS with 100,000 distinct cached identities \| 180\.3 MB \| ≤ 250 MB \| \*\*PASS\*\* \|/)
  })

  it('has the API-key scenarios, apikey-hot judged as jwt-hot and apikey-cold beside it', () => {
    assert.match(md, /### apikey-hot\n\none personal API key/)
    assert.match(md, /### apikey-cold\n\n2,000 personal API keys/)
    assert.match(
      md,
      /\| gatehouse apikey-hot ÷ node-proxy public \| CPU µs\/request \| 38\.00 ÷ 40\.00 \| 0\.95× \| — \| ≤ 0\.8× \| \*\*MISS\*\* \|/,
    )
    assert.match(
      md,
      /\| gatehouse apikey-hot ÷ fastify-stack jwt-hot \| CPU µs\/request \| 38\.00 ÷ 120\.00 \| 0\.32× \| — \| ≤ 0\.7× \| \*\*PASS\*\* \|/,
    )
    assert.match(
      md,
      /\| gatehouse apikey-cold ÷ gatehouse apikey-hot \| CPU µs\/request \| 95\.00 ÷ 38\.00 \| 2\.50× \| — \| ≤ 2× \| \*\*MISS\*\* \|/,
    )
    assert.match(md, /\| gatehouse apikey-cold ÷ gatehouse jwt-cold \| CPU µs\/request \| 95\.00 ÷ — \| — \| — \| — \| n\/a \|/)
    assert.match(md, /apikey-cold: 2,000 keys of 100 users/)
  })

  it('lists each round of a ratio measured in several, and says how many rounds there were', () => {
    const base = results()
    const hot = (us: number) => measurement({ target: 'gatehouse', scenario: 'jwt-hot', cpu: { ticks: 0, usPerRequest: us } })
    const node = base.measurements[0]!
    const repeats = [
      [node, hot(30)],
      [node, hot(31)],
    ]
    const md3 = renderMarkdown({ ...base, repeats, ratios: evaluateRatios(base.measurements, undefined, repeats) }, 'bench-cpu.svg')
    assert.match(
      md3,
      /\| gatehouse jwt-hot ÷ node-proxy public \| CPU µs\/request \| 36\.04 ÷ 40\.00 \| 0\.78× \| 0\.90×, 0\.75×, 0\.78× \| ≤ 0\.8× \| \*\*PASS\*\* \|/,
    )
    assert.match(md3, /measured in 3 rounds/)
  })

  it('links the chart and carries the run notes and the method', () => {
    assert.match(md, /!\[CPU microseconds per request, per target and scenario\]\(bench-cpu\.svg\)/)
    assert.match(md, /- nginx is not installed/)
    assert.match(md, /## Method/)
  })
})

describe('renderSummary', () => {
  it('holds every row with its scenario, and the ratios', () => {
    const text = renderSummary(results())
    assert.match(text, /\| rate-limited \| gatehouse \|/)
    assert.match(text, /÷ node-proxy public/)
  })
})

describe('renderCpuChart', () => {
  it('charts every row, uploads in a panel of their own', () => {
    const rows = [
      ...results().measurements,
      measurement({ target: 'gatehouse', scenario: 'upload', cpu: { ticks: 0, usPerRequest: 9000 } }),
    ]
    const svg = renderCpuChart(rows)
    assert.equal(svg.match(/<rect class="bar"/g)?.length, rows.length)
    assert.match(svg, />10 MB uploads</)
    assert.match(svg, />fastify-stack \(cache on\) · jwt-hot</)
  })
})

describe('cell helpers', () => {
  it('escapes pipes and newlines, and prints unknown numbers as a dash', () => {
    assert.equal(escapeCell('a|b\nc'), 'a\\|b c')
    assert.equal(fmt(Number.NaN, 1), '—')
    assert.equal(fmt(null, 1), '—')
    assert.equal(fmt(12345.678, 1), '12,345.7')
  })
})
