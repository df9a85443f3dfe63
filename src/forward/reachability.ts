import { connect } from 'node:net'

export type UpstreamReachability = {
  /** Opens (and closes) one TCP connection to the upstream: undefined when it connects, else why not. */
  probe(): Promise<string | undefined>
  /** What the last probe found, for /readyz: reported, never unready (the upstream may start later). */
  detail(): { reachable: boolean; error?: string }
}

/** Where a socket to the upstream connects: the host without an IPv6 literal's brackets, the port or the scheme's. */
export function socketAddressOf(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) }
}

/**
 * Whether the upstream accepts connections. A sidecar's upstream often starts after gatehouse, so
 * an unreachable one is a warning and a readiness detail, not a refusal to start or serve.
 */
export function createUpstreamReachability(url: URL, timeoutMs: number): UpstreamReachability {
  const { host, port } = socketAddressOf(url)
  let last: string | undefined
  return {
    probe: () =>
      new Promise((resolve) => {
        const socket = connect({ host, port, timeout: timeoutMs })
        // A probe never keeps the process alive, nor a close waiting.
        socket.unref()
        let settled = false
        const done = (error: string | undefined) => {
          if (settled) return
          settled = true
          socket.destroy()
          last = error
          resolve(error)
        }
        socket.once('connect', () => done(undefined))
        socket.once('timeout', () => done(`no connection within ${timeoutMs} ms`))
        socket.once('error', (err) => done(err.message))
      }),
    detail: () => (last === undefined ? { reachable: true } : { reachable: false, error: last }),
  }
}
