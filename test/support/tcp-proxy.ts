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
  const server = createServer((client) => {
    if (state === 'cut') return void client.resetAndDestroy()
    const pair = new Pair(client, connect(target.port, target.host), () => pairs.delete(pair))
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
  #flowing = false

  constructor(client: Socket, upstream: Socket, onClose: () => void) {
    this.#client = client
    this.#upstream = upstream
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
    this.#upstream.pipe(this.#client)
  }

  hold(): void {
    this.#flowing = false
    this.#client.unpipe(this.#upstream)
    this.#upstream.unpipe(this.#client)
    this.#client.pause()
    this.#upstream.pause()
  }

  reset(): void {
    this.#client.resetAndDestroy()
    this.#upstream.resetAndDestroy()
  }
}
