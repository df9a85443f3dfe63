import type { ServerResponse } from 'node:http'
import { problems, sendProblem } from '../http/index.ts'
import type { Problem } from '../http/index.ts'
import type { AccessOutcome } from '../log.ts'

/** How the end-user door writes its answers: never cached, each with its access-log outcome. */

export function refuse(res: ServerResponse, p: Problem, headers: readonly string[] = [], error?: string): AccessOutcome {
  sendProblem(res, p, headers)
  return { status: p.status, error }
}

/** The longest wait of the budgets that have no room; undefined when all have. */
export function waitOf(decisions: readonly { allowed: boolean; waitSeconds: number }[]): number | undefined {
  let wait: number | undefined
  for (const d of decisions) if (!d.allowed) wait = Math.max(wait ?? 0, d.waitSeconds)
  return wait
}

export function tooMany(res: ServerResponse, waitSeconds: number, error: string): AccessOutcome {
  const problem = problems.tooManyRequests(Math.round(waitSeconds * 1000) / 1000)
  return refuse(res, problem, ['retry-after', String(Math.max(1, Math.ceil(waitSeconds)))], error)
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: readonly string[] = []): void {
  const text = JSON.stringify(body)
  res.writeHead(status, [
    ...headers,
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(text)),
    'cache-control',
    'no-store',
  ])
  res.end(text)
}

/** A 303 See Other to `location` (a path or an allowed URL: the caller checked it). */
export function redirect(res: ServerResponse, location: string, headers: readonly string[] = []): AccessOutcome {
  res.writeHead(303, ['location', location, ...headers, 'content-length', '0', 'cache-control', 'no-store'])
  res.end()
  return { status: 303 }
}
