import { ProblemError, problems } from '../http/index.ts'
import type { Problem } from '../http/index.ts'

/** The stable codes of credential failures, as the access log and the decision's deny carry them. */
export type CredentialErrorCode = 'no_credential' | 'malformed_credential' | 'invalid_token' | 'invalid_api_key' | 'key_source_unavailable'

/**
 * Every authentication failure, after jose's JOSEError: a stable `code` to branch on, and a
 * `reason` for logs only. The response says no more than PropelAuth's "Invalid access token", and
 * neither the message nor the reason ever carries the credential itself. They are problems, so
 * the decision answers them like any other ProblemError.
 */
export class CredentialError extends ProblemError {
  readonly code: CredentialErrorCode
  readonly reason: string
  /**
   * Whether the credential itself was refused: an optional route then treats the request as one
   * without a credential. False when it could not be checked now, which no route may take for "none".
   */
  readonly refused: boolean

  constructor(
    code: CredentialErrorCode,
    reason: string,
    problem: Problem,
    options: { refused?: boolean; headers?: Record<string, string> } = {},
  ) {
    super(problem, options.headers)
    this.name = 'CredentialError'
    this.code = code
    this.reason = reason
    this.refused = options.refused ?? true
  }
}

export class InvalidTokenError extends CredentialError {
  constructor(reason: string) {
    super('invalid_token', reason, problems.unauthorized('Invalid access token'))
    this.name = 'InvalidTokenError'
  }
}

/** A route that needs a caller, and no credential was sent. */
export class NoCredentialError extends CredentialError {
  constructor() {
    super('no_credential', 'no credential was sent', problems.unauthorized('No authorization header found'))
    this.name = 'NoCredentialError'
  }
}

/** An Authorization header that is not `Bearer <credential>`: nothing in it can be checked. */
export class MalformedCredentialError extends CredentialError {
  constructor(detail: string, reason: string) {
    super('malformed_credential', reason, problems.unauthorized(detail))
    this.name = 'MalformedCredentialError'
  }
}

/**
 * The key that would decide whether a token is valid cannot be fetched now: neither 401 nor 200 is
 * honest. `retryAfterSeconds`, when known, is when a retry can first be answered differently.
 */
export class KeySourceUnavailableError extends CredentialError {
  constructor(reason: string, retryAfterSeconds?: number) {
    super(
      'key_source_unavailable',
      reason,
      problems.serviceUnavailable('The key needed to verify the access token cannot be fetched right now'),
      {
        refused: false,
        headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
      },
    )
    this.name = 'KeySourceUnavailableError'
  }
}
