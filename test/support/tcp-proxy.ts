import { connect, createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'

export type TcpProxy = {
  port: number
  /** Resets every open connection and every new one until heal(): the peer is gone. */
  cut(): void
  /** Keeps connections open, and accepts new ones, but passes no byte either way: a partition. */
  blackhole(): void
  /** Back to forwarding; what a blackholed connection held back flows on, as after a healed partition. */
  heal(): void
  /** Holds every chunk the server sends back for `ms`, in order (0: none): a healthy server that is slow to answer. */
  delayReplies(ms: number): void
  /** Connections open now (each a client and its upstream socket). */
  connections(): number
  close(): Promise<void>
}

type State = 'forwarding' | 'cut' | 'blackholed'

/**
 * A TCP forwarder between a process under test and a real server (PostgreSQL), so a test can make
 * that server vanish or go silent for one process without touching it for anyone else on the machine.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let state: State = 'forwarding'
  const pairs = new Set<Pair>()
  const delay = { ms: 0 }
  const server = createServer((client) => {
    if (state === 'cut') return void client.resetAndDestroy()
    const pair = new Pair(client, connect(target.port, target.host), delay, () => pairs.delete(pair))
    pairs.add(pair)
    if (state === 'forwarding') pair.flow()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      state = 'cut'
      for (const pair of pairs) pair.reset()
    },
    blackhole() {
      state = 'blackholed'
      for (const pair of pairs) pair.hold()
    },
    heal() {
      state = 'forwarding'
      for (const pair of pairs) pair.flow()
    },
    delayReplies(ms) {
      delay.ms = ms
    },
    connections: () => pairs.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) pair.reset()
        server.close(() => resolve())
      }),
  }
}

/** One proxied connection. Holding it leaves bytes unread in the kernel, so nothing is lost or reordered. */
class Pair {
  readonly #client: Socket
  readonly #upstream: Socket
  readonly #delay: { ms: number }
  #flowing = false
  // Delayed replies leave in arrival order even when the delay shrinks: each waits for the one before.
  #previous = Promise.resolve()

  constructor(client: Socket, upstream: Socket, delay: { ms: number }, onClose: () => void) {
    this.#client = client
    this.#upstream = upstream
    this.#delay = delay
    client.pause()
    upstream.pause()
    const drop = () => {
      client.destroy()
      upstream.destroy()
      onClose()
    }
    for (const socket of [client, upstream]) socket.on('error', drop).on('close', drop)
  }

  flow(): void {
    if (this.#flowing) return
    this.#flowing = true
    this.#client.pipe(this.#upstream)
    this.#upstream.on('data', this.#relay)
    this.#upstream.resume()
  }

  readonly #relay = (chunk: Buffer): void => {
    const due = Date.now() + this.#delay.ms
    this.#previous = this.#previous.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            if (this.#client.writable) this.#client.write(chunk)
            resolve()
          }, due - Date.now()),
        ),
    )
  }

  hold(): void {
    this.#flowing = false
    this.#client.unpipe(this.#upstream)
    this.#upstream.off('data', this.#relay)
    this.#client.pause()
    this.#upstream.pause()
  }

  reset(): void {
    this.#client.resetAndDestroy()
    this.#upstream.resetAndDestroy()
  }
}
