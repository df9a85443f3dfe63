import { createServer } from 'node:http'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import { Server as NetServer } from 'node:net'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export type ListenerTimeouts = {
  /** Until the whole header section has arrived; then 408 and the connection is closed. */
  headersTimeoutMs: number
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: number
}

export type GracefulServer = {
  server: Server
  /**
   * Stops accepting and lets the requests under way finish, for at most `timeoutMs`. From the
   * call on, every response carries `Connection: close` and its connection ends with it; a
   * keep-alive connection with no request under way is closed once it has been idle for
   * `IDLE_GRACE_MS`, so that a client that was already sending on it is served, not reset.
   */
  drain(timeoutMs: number): Promise<void>
}

/**
 * How long a connection must have been idle, after the drain began, before it is closed. Closing
 * every idle connection at the instant of SIGTERM (what `server.close()` does since Node 19) resets
 * requests that clients had just written on reused sockets: measured 3–22 resets of 30.
 */
const IDLE_GRACE_MS = 300

// Node checks header and request deadlines on this period (default 30 s), so it bounds their precision.
const CHECK_INTERVAL_MS = 1000

type ConnectionState = { busy: number; idleSince: number }

export type ListenerHandlers = {
  request: RequestListener
  /** For requests with `Expect: 100-continue`; without it Node answers 100 before the handler runs. */
  checkContinue?: RequestListener
  /** Upgrade requests (WebSocket): the connection is the handler's from then on, outside the drain's bookkeeping. */
  upgrade?: UpgradeHandler
}

export type UpgradeHandler = {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Called by the drain once the HTTP requests under way have finished (or at its deadline): ends every upgraded connection. */
  closeAll(): void
}

/**
 * An HTTP/1.1 server with gatehouse's connection policy: header and keep-alive deadlines from the
 * config, and a drain that never resets a request already on the wire.
 */
export function createGracefulServer(handlers: ListenerHandlers, timeouts: ListenerTimeouts): GracefulServer {
  let draining = false
  const connections = new Map<Socket, ConnectionState>()
  const tracked =
    (handler: RequestListener): RequestListener =>
    (req: IncomingMessage, res: ServerResponse) => {
      const state = connections.get(req.socket)
      if (state) {
        state.busy++
        res.on('close', responseClosed)
      }
      if (draining) res.shouldKeepAlive = false
      handler(req, res)
    }
  const server = createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      // The whole-request deadline is per route (uploads need longer); the gateway enforces it.
      requestTimeout: 0,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    tracked(handlers.request),
  )
  // With a listener, Node leaves `Expect: 100-continue` to the handler instead of inviting the
  // body before anything was checked.
  if (handlers.checkContinue) server.on('checkContinue', tracked(handlers.checkContinue))
  const upgrades = handlers.upgrade
  if (upgrades) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // No longer an HTTP connection: the idle sweep must not cut it; the upgrade handler ends it.
      connections.delete(socket as Socket)
      upgrades.handle(req, socket, head)
    })
  }
  // One function for every response rather than a closure each: a response closes once, and its
  // request still holds the socket (the response has let go of it by then).
  function responseClosed(this: ServerResponse): void {
    const state = connections.get(this.req.socket)
    if (!state) return
    state.busy--
    state.idleSince = performance.now()
  }
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { busy: 0, idleSince: performance.now() })
    socket.once('close', () => connections.delete(socket))
  })

  function closeIdle(since: number): void {
    const now = performance.now()
    for (const [socket, state] of connections) {
      if (state.busy === 0 && now - Math.max(state.idleSince, since) >= IDLE_GRACE_MS) socket.destroy()
    }
  }

  let upgradesClosed = false
  /** Tunnels end after the HTTP requests: a response still streaming is not cut short by a tunnel's close. */
  function closeUpgrades(): void {
    if (upgradesClosed) return
    upgradesClosed = true
    upgrades?.closeAll()
  }

  function drain(timeoutMs: number): Promise<void> {
    draining = true
    const since = performance.now()
    return new Promise((resolve) => {
      const cut = setTimeout(() => {
        closeUpgrades()
        server.closeAllConnections()
      }, timeoutMs)
      const sweep = setInterval(() => {
        closeIdle(since)
        if ([...connections.values()].every((state) => state.busy === 0)) closeUpgrades()
      }, 50)
      // net.Server's close stops accepting without http.Server's instant closeIdleConnections().
      NetServer.prototype.close.call(server, () => {
        clearTimeout(cut)
        clearInterval(sweep)
        resolve()
      })
    })
  }

  return { server, drain }
}
