import type { z } from 'zod'
import { AccessTokenError } from '../issuer/index.ts'
import {
  ApiKeyRateLimitedError,
  ApiKeyRefusedError,
  ConflictError,
  InvalidInputError,
  InviteRefusedError,
  NotFoundError,
} from '../directory/index.ts'
import { MailDeliveryError } from '../mail/index.ts'
import { problems, ProblemError, problemBody, PROBLEM_CONTENT_TYPE } from '../http/index.ts'
import { StoreConflictError, StoreLimitError, StoreNotFoundError, StoreUnavailableError } from '../store/index.ts'

/**
 * PropelAuth's error bodies, as its SDKs read them: a 400 is a map of request field to messages
 * (the SDK's `fieldToErrors`), a 404 is "not found" (most SDK functions answer it with null or
 * false), a 429 carries wait_seconds. Handlers throw; the adapter's error handler writes.
 */
export class PropelAuthError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${status} ${JSON.stringify(body)}`)
    this.name = 'PropelAuthError'
  }
}

export const fieldErrors = (errors: Record<string, string[]>) => new PropelAuthError(400, errors)
export const fieldError = (field: string, message: string) => fieldErrors({ [field]: [message] })
export const notFound = (message: string) => new PropelAuthError(404, { error_code: 'not_found', user_facing_error: message })

/**
 * PropelAuth's answer for a feature that is not available (its `feature_gated` code): the
 * functions gatehouse does not implement (passwords, magic links, invitations) say so rather
 * than pretend to succeed.
 */
export const notSupported = (what: string) =>
  new PropelAuthError(400, {
    error_code: 'feature_gated',
    user_facing_error: `${what} is not supported by gatehouse (see docs/PROPELAUTH.md)`,
  })

/** zod issues as PropelAuth's field errors; an unknown field is named as not supported. */
export function fromZod(error: z.ZodError, target: string): PropelAuthError {
  const errors: Record<string, string[]> = {}
  const add = (field: string, message: string) => (errors[field] ??= []).push(message)
  for (const issue of error.issues) {
    const at = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add(at ? `${at}.${key}` : key, 'not supported by gatehouse')
    } else add(at || target, issue.message)
  }
  return fieldErrors(errors)
}

/** Store rule breaks named by the request field they blame. */
export async function write<T>(work: Promise<T>, fields: Record<string, string> = {}): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof StoreConflictError) throw fieldError(fields[err.field] ?? err.field, err.message)
    // The one limit is an org's max_users.
    if (err instanceof StoreLimitError) throw fieldError('org_id', err.message)
    if (err instanceof StoreNotFoundError) throw notFound(err.message)
    throw err
  }
}

function known(err: Error): PropelAuthError | undefined {
  if (err instanceof PropelAuthError) return err
  if (err instanceof NotFoundError) return notFound(err.message)
  if (err instanceof InvalidInputError || err instanceof ConflictError) return fieldError(err.field, err.message)
  if (err instanceof ApiKeyRefusedError) return fieldError('api_key_token', err.message)
  // PropelAuth's invite functions answer false for a 404 and throw the field errors of a 400.
  if (err instanceof InviteRefusedError) {
    return err.kind === 'gone' ? notFound(err.message) : fieldError(err.reason === 'org_full' ? 'org_id' : 'email', err.message)
  }
  if (err instanceof AccessTokenError) return err.status === 404 ? notFound(err.message) : fieldError(err.field ?? 'user_id', err.message)
  if (err instanceof ApiKeyRateLimitedError) {
    const { wait_seconds, user_facing_error, error_code } = problems.tooManyRequests(err.waitSeconds)
    return new PropelAuthError(429, { wait_seconds, user_facing_error, error_code })
  }
  return undefined
}

/** The adapter's onError: PropelAuth's shapes for what it knows; the admin key's 401, 503 and 500 as the admin API's problems. */
export function respond(err: Error): Response {
  const mapped = known(err)
  if (mapped !== undefined) return Response.json(mapped.body, { status: mapped.status })
  const p =
    err instanceof ProblemError
      ? err.problem
      : err instanceof StoreUnavailableError
        ? problems.serviceUnavailable('The store is unavailable; retry later')
        : err instanceof MailDeliveryError
          ? problems.badGateway(`The invitation was stored but not mailed: ${err.message}`)
          : problems.internal()
  const headers = err instanceof ProblemError ? err.headers : {}
  return new Response(problemBody(p), { status: p.status, headers: { ...headers, 'content-type': PROBLEM_CONTENT_TYPE } })
}
