import { ProblemError, problems } from '../http/index.ts'

/**
 * Authentication failures as problems, so the HTTP layer answers them like any other ProblemError.
 * `reason` is for logs only: the response says no more than PropelAuth's "Invalid access token",
 * and neither the message nor the reason ever carries the token itself.
 */
export class InvalidTokenError extends ProblemError {
  readonly reason: string

  constructor(reason: string) {
    super(problems.unauthorized('Invalid access token'))
    this.name = 'InvalidTokenError'
    this.reason = reason
  }
}

/**
 * The key that would decide whether a token is valid cannot be fetched now: neither 401 nor 200 is
 * honest. `retryAfterSeconds`, when known, is when a retry can first be answered differently.
 */
export class KeySourceUnavailableError extends ProblemError {
  readonly reason: string

  constructor(reason: string, retryAfterSeconds?: number) {
    super(
      problems.serviceUnavailable('The key needed to verify the access token cannot be fetched right now'),
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
    )
    this.name = 'KeySourceUnavailableError'
    this.reason = reason
  }
}
