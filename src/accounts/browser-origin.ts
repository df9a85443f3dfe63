import type { IncomingMessage } from 'node:http'
import { isSameOriginOrSafe, readBrowserFacts } from '../decide/index.ts'
import { checkInboundHeaders, createForwardedHeaders } from '../http/index.ts'
import type { Forwarded, Network } from '../http/index.ts'

/** What gatehouse's own browser endpoints read off a request: its forwarding facts and whether a page of this origin sent it. */
export type BrowserRequests = {
  forwardedOf(req: IncomingMessage): Forwarded
  /** The decision's CSRF rule (`isSameOriginOrSafe`) against the gateway's host as `server.trust_proxy` makes it. */
  sameOrigin(req: IncomingMessage, forwarded: Forwarded): boolean
}

export function createBrowserRequests(trustProxy: readonly Network[]): BrowserRequests {
  const forwardedFor = createForwardedHeaders(trustProxy)
  return {
    forwardedOf(req) {
      const inbound = checkInboundHeaders(req.rawHeaders, req.httpVersion)
      const header = (name: string) => {
        const value = req.headers[name]
        return Array.isArray(value) ? value.join(', ') : value
      }
      return forwardedFor({
        remoteAddress: req.socket.remoteAddress,
        host: inbound.host,
        xForwardedFor: header('x-forwarded-for'),
        xForwardedProto: header('x-forwarded-proto'),
        xForwardedHost: header('x-forwarded-host'),
        xForwardedPort: header('x-forwarded-port'),
        requestId: header('x-request-id'),
      })
    },
    sameOrigin: (req, forwarded) => isSameOriginOrSafe(req.method ?? 'POST', readBrowserFacts(req.rawHeaders), forwarded.host),
  }
}
