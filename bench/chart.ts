/** One bar: its label, the group that picks its colour (the target), and its value. */
export type Bar = { label: string; group: string; value: number }

/** Bars sharing one scale; values of very different size (10 MB uploads) go in a panel of their own. */
export type Panel = { title: string; bars: readonly Bar[] }

export type ChartOptions = { title: string; unit: string; panels: readonly Panel[] }

const WIDTH = 820
const LABEL_WIDTH = 260
const VALUE_WIDTH = 70
const HEADER = 56
const PANEL_TITLE = 26
const ROW = 24
const BAR = 16
const AXIS = 40
const PALETTE = ['#2f6fdf', '#8a8f98', '#e0862f', '#3a9a5b', '#b04ad0', '#c9423a']

/**
 * A horizontal bar chart as hand-written SVG: one bar per row, each panel on its own linear scale
 * from zero, the value printed after each bar, colours by group with one legend. No dependency,
 * so the harness regenerates it on every run.
 */
export function renderBarChart({ title, unit, panels }: ChartOptions): string {
  const groups = [...new Set(panels.flatMap((p) => p.bars.map((b) => b.group)))]
  const colour = (group: string) => PALETTE[groups.indexOf(group) % PALETTE.length]!
  const height = HEADER + panels.reduce((sum, p) => sum + panelHeight(p), 0)

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ]
  groups.forEach((group, i) => {
    const x = LABEL_WIDTH + i * 130
    parts.push(`<rect class="legend" x="${x}" y="34" width="12" height="12" fill="${colour(group)}"/>`)
    parts.push(`<text x="${x + 16}" y="44">${escapeXml(group)}</text>`)
  })
  let top = HEADER
  for (const panel of panels) {
    parts.push(...renderPanel(panel, top, unit, colour))
    top += panelHeight(panel)
  }
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

function panelHeight(panel: Panel): number {
  return PANEL_TITLE + panel.bars.length * ROW + AXIS
}

function renderPanel(panel: Panel, top: number, unit: string, colour: (group: string) => string): string[] {
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH
  const barsTop = top + PANEL_TITLE
  const axisY = barsTop + panel.bars.length * ROW
  const max = niceCeiling(Math.max(0, ...panel.bars.map((b) => b.value).filter(Number.isFinite)))
  const x = (value: number) => LABEL_WIDTH + (Math.max(0, value) / max) * plotWidth
  const parts = [`<text x="${LABEL_WIDTH}" y="${top + 17}" font-weight="bold">${escapeXml(panel.title)}</text>`]
  const ticks = 5
  for (let i = 0; i <= ticks; i++) {
    const value = (max * i) / ticks
    parts.push(`<line x1="${x(value)}" y1="${barsTop - 4}" x2="${x(value)}" y2="${axisY}" stroke="#e3e3e3"/>`)
    parts.push(`<text x="${x(value)}" y="${axisY + 14}" text-anchor="middle" fill="#555">${formatNumber(value)}</text>`)
  }
  parts.push(`<text x="${LABEL_WIDTH + plotWidth / 2}" y="${axisY + 30}" text-anchor="middle" fill="#555">${escapeXml(unit)}</text>`)
  panel.bars.forEach((bar, i) => {
    const y = barsTop + i * ROW
    const known = Number.isFinite(bar.value)
    const w = known ? x(bar.value) - LABEL_WIDTH : 0
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${y + BAR - 4}" text-anchor="end">${escapeXml(bar.label)}</text>`)
    parts.push(`<rect class="bar" x="${LABEL_WIDTH}" y="${y}" width="${round(w)}" height="${BAR}" fill="${colour(bar.group)}"/>`)
    parts.push(`<text x="${round(LABEL_WIDTH + w + 6)}" y="${y + BAR - 4}">${known ? formatNumber(bar.value) : 'n/a'}</text>`)
  })
  return parts
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above `value`, so grid lines fall on round numbers. */
export function niceCeiling(value: number): number {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  const step = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((s) => s * power >= value)!
  return step * power
}

function formatNumber(value: number): string {
  return value >= 100 ? String(Math.round(value)) : String(round(value))
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}
