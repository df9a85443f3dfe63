import type { Budget, LimitDecision, Limiter } from '../ratelimit/index.ts'

/**
 * Budget decisions over the IPC channel, in a compact form: JSON of the full objects cost about
 * three times the CPU of these flat arrays per decision (measured, 16 decisions a message), and
 * every budgeted request of a worker makes the trip.
 *
 * An ask is `[spend, key, limit, windowMs, key, limit, windowMs, …]`; an answer is five numbers
 * per budget: `[allowed, remaining, resetSeconds, retryAfterSeconds, waitSeconds, …]`. The
 * worker keeps the budgets it sent and rebuilds each decision's name, limit and policy from them.
 */
export type WireAsk = (string | number)[]
export type WireAnswer = number[]

const FIELDS_PER_BUDGET = 3
const FIELDS_PER_DECISION = 5

/** The primary's side: decides a message's asks in order with the limiter of record. */
export function answerAsks(limiter: Limiter, asks: readonly WireAsk[]): Promise<WireAnswer[]> {
  return Promise.all(
    asks.map(async (ask) => {
      const budgets = budgetsOf(ask)
      return encodeDecisions(await (ask[0] === 1 ? limiter.takeAll(budgets) : limiter.peekAll(budgets)))
    }),
  )
}

/**
 * The worker's side: a limiter whose decisions the primary makes. The requests of one
 * event-loop turn go as one message (an IPC message costs about as much to send and read whatever
 * it holds, so under load the requests parsed in one turn share it); the primary decides them in
 * order, exactly as if each had come alone. A request without a budget needs no decision, and no
 * round trip.
 */
export function createRemoteLimiter(ask: (asks: readonly WireAsk[]) => Promise<WireAnswer[]>): Limiter {
  type Waiting = { budgets: readonly Budget[]; resolve(decisions: LimitDecision[]): void; reject(err: unknown): void }
  let asks: WireAsk[] = []
  let waiting: Waiting[] = []
  const send = () => {
    const sent = waiting
    ask(asks).then(
      (answers) => sent.forEach((w, i) => w.resolve(decodeDecisions(w.budgets, answers[i]!))),
      (err: unknown) => sent.forEach((w) => w.reject(err)),
    )
    asks = []
    waiting = []
  }
  const decide = (budgets: readonly Budget[], spend: boolean): LimitDecision[] | Promise<LimitDecision[]> => {
    if (budgets.length === 0) return []
    if (asks.length === 0) setImmediate(send)
    asks.push(encodeAsk(budgets, spend))
    return new Promise((resolve, reject) => waiting.push({ budgets, resolve, reject }))
  }
  return { takeAll: (budgets) => decide(budgets, true), peekAll: (budgets) => decide(budgets, false) }
}

function encodeAsk(budgets: readonly Budget[], spend: boolean): WireAsk {
  const wire: WireAsk = [spend ? 1 : 0]
  for (const { key, spec } of budgets) wire.push(key, spec.limit, spec.windowMs)
  return wire
}

/** The budgets of an ask as the limiter takes them; name and text stay with the worker, which asked. */
function budgetsOf(ask: WireAsk): Budget[] {
  const budgets: Budget[] = []
  for (let i = 1; i + FIELDS_PER_BUDGET <= ask.length; i += FIELDS_PER_BUDGET) {
    const [key, limit, windowMs] = [String(ask[i]), Number(ask[i + 1]), Number(ask[i + 2])]
    budgets.push({ key, spec: { limit, windowMs, text: '' }, name: '' })
  }
  return budgets
}

function encodeDecisions(decisions: readonly LimitDecision[]): WireAnswer {
  const wire: WireAnswer = []
  for (const d of decisions) wire.push(d.allowed ? 1 : 0, d.remaining, d.resetSeconds, d.retryAfterSeconds, d.waitSeconds)
  return wire
}

function decodeDecisions(budgets: readonly Budget[], wire: WireAnswer): LimitDecision[] {
  return budgets.map(({ name, spec }, i) => {
    const at = i * FIELDS_PER_DECISION
    return {
      allowed: wire[at] === 1,
      name,
      limit: spec.limit,
      remaining: wire[at + 1]!,
      resetSeconds: wire[at + 2]!,
      retryAfterSeconds: wire[at + 3]!,
      waitSeconds: wire[at + 4]!,
      policy: spec,
    }
  })
}
