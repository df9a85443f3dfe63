import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** The fields of /proc/<pid>/stat the bench needs; times are in clock ticks. */
export type ProcStat = { pid: number; ppid: number; utime: number; stime: number }

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) is in parentheses and may itself
 * contain spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 80)}`)
  // After the name: field 3 (state) is index 0, so field n is index n - 3.
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/)
  const field = (n: number) => {
    const value = Number(rest[n - 3])
    if (!Number.isFinite(value)) throw new Error(`field ${n} missing from /proc stat line`)
    return value
  }
  return { pid: Number(text.slice(0, open).trim()), ppid: field(4), utime: field(14), stime: field(15) }
}

/** A `Vm…:   1234 kB` field of /proc/<pid>/status, in kB (0 when absent, e.g. for a zombie). */
export function parseStatusKb(text: string, name: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text)
  return match ? Number(match[1]) : 0
}

/** `root` and every process below it, from a snapshot of all processes' parent links. */
export function descendants(stats: readonly ProcStat[], root: number): number[] {
  const children = new Map<number, number[]>()
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s.pid])
  const tree: number[] = []
  for (const pending = [root]; pending.length > 0;) {
    const pid = pending.pop()!
    tree.push(pid)
    pending.push(...(children.get(pid) ?? []))
  }
  return tree
}

/** CPU time in µs per completed request; NaN when nothing completed, so no ratio can be made of it. */
export function cpuMicrosPerRequest(deltaTicks: number, ticksPerSecond: number, requests: number): number {
  if (requests <= 0) return Number.NaN
  return (deltaTicks * 1_000_000) / ticksPerSecond / requests
}

let ticksPerSecond: number | undefined

/** USER_HZ, the unit of /proc times (almost always 100). */
export function clockTicksPerSecond(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  return ticksPerSecond
}

/**
 * CPU and memory of a process together with all of its descendants (nginx's master and workers).
 * `ticks` is user and kernel time together; `kernelTicks` the kernel's part of it (stime).
 */
export type TreeSample = { pids: number[]; ticks: number; kernelTicks: number; rssKb: number; hwmKb: number }

/** `root` and its live descendants, from the current process table. */
export function processTree(root: number): number[] {
  return descendants(allStats(), root)
}

export function sampleTree(root: number): TreeSample {
  const pids = processTree(root)
  let ticks = 0
  let kernelTicks = 0
  let rssKb = 0
  let hwmKb = 0
  for (const pid of pids) {
    const stat = readStat(pid)
    const status = readProc(pid, 'status')
    if (!stat || status === undefined) continue
    ticks += stat.utime + stat.stime
    kernelTicks += stat.stime
    rssKb += parseStatusKb(status, 'VmRSS')
    hwmKb += parseStatusKb(status, 'VmHWM')
  }
  return { pids, ticks, kernelTicks, rssKb, hwmKb }
}

/** Resident set of the tree only: cheap enough to poll during a measured window. */
export function treeRssKb(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) total += parseStatusKb(readProc(pid, 'status') ?? '', 'VmRSS')
  return total
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = readStat(Number(name))
    if (stat) stats.push(stat)
  }
  return stats
}

function readStat(pid: number): ProcStat | undefined {
  const text = readProc(pid, 'stat')
  return text === undefined ? undefined : parseStat(text)
}

// A process may exit between listing /proc and reading it; that is not an error.
function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined
  }
}
