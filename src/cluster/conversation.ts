/**
 * Typed questions and notices between the primary and one worker over the cluster's IPC channel.
 * Each side names what it may ask (with the reply it expects) and what it may tell (no reply);
 * a question carries an id and its answer comes back under it. Node's own cluster messages never
 * reach here (Node filters them), and another library's (prom-client's) lack the `gh` marker.
 */

/** What one side may ask the other: the body sent and the reply it resolves with. */
export type Questions = Record<string, { ask: unknown; reply: unknown }>
/** What one side may tell the other: the body of each notice. */
export type Notices = Record<string, unknown>

type Wire =
  | { gh: 'ask'; id: number; kind: string; body: unknown }
  | { gh: 'reply'; id: number; value?: unknown; error?: string }
  | { gh: 'tell'; kind: string; body: unknown }

/** One end of the channel: the worker's `process`, or the primary's `Worker`. */
export type Port = {
  send(message: unknown, callback: (err: Error | null) => void): unknown
  on(event: 'message', listener: (message: unknown) => void): unknown
  off(event: 'message', listener: (message: unknown) => void): unknown
}

export type Answers<Q extends Questions> = { [K in keyof Q]: (body: Q[K]['ask']) => Q[K]['reply'] | Promise<Q[K]['reply']> }
export type Listeners<N extends Notices> = { [K in keyof N]: (body: N[K]) => void }

export type Conversation<MyQuestions extends Questions, MyNotices extends Notices> = {
  ask<K extends keyof MyQuestions & string>(kind: K, body: MyQuestions[K]['ask']): Promise<MyQuestions[K]['reply']>
  /** Resolves once the notice is written to the channel. */
  tell<K extends keyof MyNotices & string>(kind: K, body: MyNotices[K]): Promise<void>
  /** Stops listening and fails every question still waiting (the peer is gone). */
  close(reason: string): void
}

/** Raised for a question whose peer went away, or whose answer failed on the other side. */
export class ConversationError extends Error {
  override name = 'ConversationError'
}

export function converse<
  MyQuestions extends Questions,
  MyNotices extends Notices,
  TheirQuestions extends Questions,
  TheirNotices extends Notices,
>(port: Port, answers: Answers<TheirQuestions>, listeners: Listeners<TheirNotices>): Conversation<MyQuestions, MyNotices> {
  let nextId = 0
  let closed: string | undefined
  const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>()

  const send = (wire: Wire): Promise<void> =>
    new Promise((resolve, reject) => {
      if (closed !== undefined) return reject(new ConversationError(closed))
      try {
        port.send(wire, (err) => (err ? reject(new ConversationError(err.message)) : resolve()))
      } catch (err) {
        // A channel already closed throws instead of calling back.
        reject(new ConversationError(err instanceof Error ? err.message : String(err)))
      }
    })

  async function answer(id: number, kind: string, body: unknown): Promise<void> {
    let reply: Wire
    try {
      const handler = answers[kind as keyof TheirQuestions]
      if (!handler) throw new Error(`unknown question ${kind}`)
      reply = { gh: 'reply', id, value: await handler(body as never) }
    } catch (err) {
      reply = { gh: 'reply', id, error: err instanceof Error ? err.message : String(err) }
    }
    // A peer that left while the answer was made has nobody to tell.
    await send(reply).catch(() => {})
  }

  const onMessage = (message: unknown): void => {
    if (!isWire(message)) return
    if (message.gh === 'ask') return void answer(message.id, message.kind, message.body)
    if (message.gh === 'tell') return listeners[message.kind as keyof TheirNotices]?.(message.body as never)
    const pending = waiting.get(message.id)
    if (!pending) return
    waiting.delete(message.id)
    if (message.error !== undefined) pending.reject(new ConversationError(message.error))
    else pending.resolve(message.value)
  }
  port.on('message', onMessage)

  return {
    ask(kind, body) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
        send({ gh: 'ask', id, kind, body }).catch((err: Error) => {
          waiting.delete(id)
          reject(err)
        })
      })
    },
    tell: (kind, body) => send({ gh: 'tell', kind, body }),
    close(reason) {
      if (closed !== undefined) return
      closed = reason
      port.off('message', onMessage)
      for (const pending of waiting.values()) pending.reject(new ConversationError(reason))
      waiting.clear()
    },
  }
}

function isWire(message: unknown): message is Wire {
  if (typeof message !== 'object' || message === null) return false
  const { gh } = message as { gh?: unknown }
  return gh === 'ask' || gh === 'reply' || gh === 'tell'
}
