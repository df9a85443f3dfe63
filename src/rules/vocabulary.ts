/** The words of a route rule (`auth:`, `credentials:`, `methods:`), which the config's schema accepts. */
export const AUTH_KINDS = ['none', 'optional', 'user', 'authenticated', 'org_member'] as const
export type AuthKind = (typeof AUTH_KINDS)[number]
// token: a user's token; service_token: a client's own (client credentials).
export const CREDENTIAL_KINDS = ['token', 'service_token', 'personal_key', 'org_key', 'generic_key'] as const
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number]

/** What a route without `methods:` accepts: the methods of RFC 9110 that an API serves. */
export const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
/** Never forwarded: TRACE echoes the request (credentials included), CONNECT asks for a tunnel. */
export const REFUSED_METHODS = ['TRACE', 'TRACK', 'CONNECT'] as const

/** What a route without `upgrade:` tunnels: WebSocket, as oauth2-proxy and Pomerium do on every route. */
export const DEFAULT_UPGRADE = ['websocket'] as const

/** Where a WebSocket handshake's credential may be read: the usual headers, a cookie, or the `bearer, <token>` subprotocol. */
export type CredentialSource = { from: 'header' } | { from: 'cookie'; name: string } | { from: 'websocket_protocol' }
/** Where a route without `credentials_from:` reads a handshake's credential: the headers, as for every request. */
export const DEFAULT_CREDENTIALS_FROM: readonly CredentialSource[] = [{ from: 'header' }]
