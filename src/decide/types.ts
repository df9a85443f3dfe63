import type { CredentialErrorCode } from '../authn/index.ts'
import type { Identity, OrgMembership } from '../identity/index.ts'
import type { Forwarded, NormalizedTarget, Problem } from '../http/index.ts'
import type { LimitDecision } from '../ratelimit/index.ts'
import type { CompiledRoute } from '../rules/index.ts'

/** What a request is, as far as deciding it goes: no socket, no body. */
export type DecisionRequest = {
  method: string
  /** The raw request-target (`IncomingMessage.url`), normalized here, or an already canonical one. */
  target: string | NormalizedTarget
  /** Node's flat [name, value, ...] list, as received. */
  rawHeaders: readonly string[]
  /** `IncomingMessage.httpVersion`, e.g. `1.1`. */
  httpVersion: string
  /** The direct peer's address (`socket.remoteAddress`); undefined once the socket is gone. */
  remoteAddress: string | undefined
  /**
   * True for a handshake the transport turns into a tunnel when it is allowed (Node's `upgrade`
   * event): its Upgrade protocols are checked against the route, and its credential may come from
   * the route's `credentials_from`.
   */
  upgrade?: boolean
}

export type DecideOptions = {
  /**
   * False decides the request against its budgets without charging them (what `takeAll` would
   * answer, from `peekAll`): for explaining a request without spending anything. Default true.
   */
  spend?: boolean
  /**
   * True verifies the credential afresh, neither reading nor filling the credential caches: for
   * explaining what a token or key yields now. Default false.
   */
  fresh?: boolean
}

/** The stable code of why a request was refused: for branching, tests and the access log. */
export type DenyReason =
  | CredentialErrorCode
  | 'bad_request'
  | 'http_version_not_supported'
  | 'not_found'
  | 'method_not_allowed'
  | 'forbidden'
  | 'rate_limited'
  | 'store_unavailable'

export type Allow = {
  kind: 'allow'
  route: CompiledRoute
  params: Readonly<Record<string, string>>
  target: NormalizedTarget
  /** The caller as forwarded: the authenticated identity, with `activeOrg` when an org rule chose one. */
  identity?: Identity
  /** The verified identity itself: cached, frozen and shared by every request with that credential. */
  authenticated?: Identity
  activeOrg?: OrgMembership
  /** Every budget's decision, in the order the budgets were taken; all allowed. */
  budgets: readonly LimitDecision[]
  forwarded: Forwarded
  /** Whether the request has a body to stream on (chunked, or a Content-Length other than 0). */
  body: boolean
  /** Flat [name, value, ...] list for the response: X-Request-Id and the RateLimit fields. */
  responseHeaders: string[]
}

export type Deny = {
  kind: 'deny'
  reason: DenyReason
  problem: Problem
  /** Flat [name, value, ...] list for the problem response: WWW-Authenticate, Allow, Retry-After, RateLimit-*. */
  headers: readonly string[]
  /** Why, for the access log only (a credential failure's reason); never shown to the caller. */
  logReason?: string
  /** What was known when the request was refused, for the access log. */
  route?: CompiledRoute
  identity?: Identity
  /** Also sent as the answer's X-Request-Id. */
  requestId: string
  /** The budgets' decisions of a `rate_limited` refusal. */
  budgets?: readonly LimitDecision[]
}

export type Decision = Allow | Deny

/**
 * Decides one request. Synchronous whenever nothing needs I/O (a cached credential, the memory
 * limiter), so that the hot path costs no promise; a Promise otherwise. It throws (or rejects) only on a
 * failure that is no decision (a bug, an unexpected error from a peer): the caller answers 500.
 */
export type Decide = (request: DecisionRequest, options?: DecideOptions) => Decision | Promise<Decision>
