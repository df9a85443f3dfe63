import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { escapeXml, niceCeiling, renderBarChart } from '../../bench/chart.ts'

const small = [
  { label: 'node-proxy · public', group: 'node-proxy', value: 40 },
  { label: 'gatehouse · jwt-hot', group: 'gatehouse', value: 36 },
  { label: 'fastify-stack (cache on) · jwt-hot', group: 'fastify-stack', value: 120 },
  { label: 'gatehouse · <cold> & "quoted"', group: 'gatehouse', value: 300 },
  { label: 'gatehouse · empty', group: 'gatehouse', value: Number.NaN },
]
const uploads = [
  { label: 'gatehouse · upload', group: 'gatehouse', value: 9000 },
  { label: 'node-proxy · upload', group: 'node-proxy', value: 7000 },
]

function barWidths(svg: string): number[] {
  return [...svg.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]))
}

describe('renderBarChart', () => {
  const svg = renderBarChart({
    title: 'CPU per request',
    unit: 'µs',
    panels: [
      { title: 'small', bars: small },
      { title: 'uploads', bars: uploads },
    ],
  })

  it('draws one bar per row, across panels', () => {
    assert.equal(barWidths(svg).length, small.length + uploads.length)
  })

  it('escapes labels', () => {
    assert.match(svg, /gatehouse · &#60;cold&#62; &#38; &#34;quoted&#34;/)
    assert.doesNotMatch(svg, /<cold>/)
  })

  it('scales each panel to its own largest value and shows a missing value as n/a', () => {
    const widths = barWidths(svg)
    assert.equal(Math.round((widths[0]! / widths[3]!) * 100), Math.round((40 / 300) * 100))
    assert.equal(widths[4], 0)
    assert.match(svg, />n\/a</)
    // The 9,000 µs upload does not squash the small-request bars: both panels use the plot's width alike.
    assert.equal(Math.round((widths[6]! / widths[5]!) * 100), Math.round((7000 / 9000) * 100))
    assert.ok(widths[3]! > widths[6]! / 2)
  })

  it('has one legend entry per group and a single svg root', () => {
    assert.equal(svg.match(/<rect class="legend"/g)?.length, 3)
    assert.equal(svg.match(/<svg /g)?.length, 1)
    assert.ok(svg.trimEnd().endsWith('</svg>'))
  })
})

describe('escapeXml / niceCeiling', () => {
  it('escapes the five XML specials', () => {
    assert.equal(escapeXml(`<a & 'b' "c">`), '&#60;a &#38; &#39;b&#39; &#34;c&#34;&#62;')
  })

  it('rounds a scale maximum up to a round number', () => {
    assert.equal(niceCeiling(300), 300)
    assert.equal(niceCeiling(456), 500)
    assert.equal(niceCeiling(120), 150)
    assert.equal(niceCeiling(22), 25)
    assert.equal(niceCeiling(10_568), 15_000)
    assert.equal(niceCeiling(0), 1)
  })
})
