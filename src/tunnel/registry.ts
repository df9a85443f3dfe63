import type { Identity } from '../identity/index.ts'
import type { InvalidationEvent } from '../invalidation/index.ts'

/** An open tunnel as the registry sees it: whose it is, and how to end it. */
export type OpenTunnel = { identity: Identity | undefined; caller: string; close(why: 'revoked' | 'shutdown'): void }

export type TunnelRegistry = {
  /** Counts the tunnel against its caller's cap; false (and nothing counted) when the cap is reached or the registry is closing. */
  open(tunnel: OpenTunnel): boolean
  release(tunnel: OpenTunnel): void
  /** Ends the tunnels of every identity the change evicts from the credential caches, and remembers it for {@link revokedSince}. */
  revoke(change: InvalidationEvent): number
  /** How many changes have been heard: taken before a handshake is decided. */
  changesHeard(): number
  /**
   * Whether a change heard since `heard` names this identity: its decision may have read the
   * directory before the change, and a tunnel would outlive it. True when too many changes came
   * to tell.
   */
  revokedSince(heard: number, identity: Identity): boolean
  /** Ends every tunnel and refuses new ones: the listener is shutting down. */
  closeAll(): void
  readonly closing: boolean
  readonly size: number
  /** `rate_limits.websocket_connections` as the registry was made with. */
  readonly cap: number | undefined
}

/**
 * Who a tunnel counts against for `rate_limits.websocket_connections`: the user (any of its
 * credentials), else the org of an org key, else the key itself, else the client address.
 */
export function callerOf(identity: Identity | undefined, clientIp: string): string {
  if (identity?.user) return `user:${identity.user.userId}`
  if (identity?.org) return `org:${identity.org.orgId}`
  if (identity?.apiKey) return `key:${identity.apiKey.id}`
  return `ip:${clientIp}`
}

/**
 * Whether a change ends a tunnel opened with this identity. The same ids the credential caches
 * evict by (src/server.ts `evict`): the user (token or key), the key, the org of an org key; and
 * for an org key any membership change in its org, since the key stops working when its creator
 * leaves and the identity does not name the creator.
 */
function revokes(change: InvalidationEvent, identity: Identity): boolean {
  if (change.userId !== undefined && identity.user?.userId === change.userId) return true
  if (change.apiKeyId !== undefined && identity.apiKey?.id === change.apiKeyId) return true
  const orgKey = identity.method === 'api_key' ? identity.org?.orgId : undefined
  return orgKey !== undefined && orgKey === change.orgId && (change.kind === 'org' || change.kind === 'membership')
}

/** Changes remembered for handshakes still being decided; a decision takes milliseconds, during which few changes come. */
const REMEMBERED_CHANGES = 256

export function createTunnelRegistry(cap: number | undefined): TunnelRegistry {
  const open = new Set<OpenTunnel>()
  const perCaller = new Map<string, number>()
  const recent: InvalidationEvent[] = []
  let heard = 0
  let closing = false
  return {
    open(tunnel) {
      const count = perCaller.get(tunnel.caller) ?? 0
      if (closing || (cap !== undefined && count >= cap)) return false
      perCaller.set(tunnel.caller, count + 1)
      open.add(tunnel)
      return true
    },
    release(tunnel) {
      if (!open.delete(tunnel)) return
      const count = perCaller.get(tunnel.caller)! - 1
      if (count === 0) perCaller.delete(tunnel.caller)
      else perCaller.set(tunnel.caller, count)
    },
    revoke(change) {
      heard++
      recent.push(change)
      if (recent.length > REMEMBERED_CHANGES) recent.shift()
      let closed = 0
      for (const tunnel of open) {
        if (tunnel.identity && revokes(change, tunnel.identity)) {
          tunnel.close('revoked')
          closed++
        }
      }
      return closed
    },
    changesHeard: () => heard,
    revokedSince(since, identity) {
      const count = heard - since
      if (count > recent.length) return true
      return recent.slice(recent.length - count).some((change) => revokes(change, identity))
    },
    closeAll() {
      closing = true
      for (const tunnel of open) tunnel.close('shutdown')
    },
    get closing() {
      return closing
    },
    get size() {
      return open.size
    },
    cap,
  }
}
