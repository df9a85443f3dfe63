import { HTTPException } from 'hono/http-exception'
import type { z } from '@hono/zod-openapi'
import { PROBLEM_CONTENT_TYPE, ProblemError, problem, problemBody, problems } from '../http/index.ts'
import type { Problem } from '../http/index.ts'
import {
  ApiKeyRateLimitedError,
  ApiKeyRefusedError,
  ConflictError,
  InvalidInputError,
  InviteRefusedError,
  NotFoundError,
} from '../directory/index.ts'
import { MailDeliveryError } from '../mail/index.ts'
import { StoreConflictError, StoreLimitError, StoreNotFoundError, StoreUnavailableError } from '../store/index.ts'

/**
 * How the management API answers failures: every one is an RFC 9457 problem, and a 400 or 409
 * lists the offending request fields in `errors: [{field, message}]` so a client can point at
 * the input. Handlers throw ProblemError; the app's error handler writes it.
 */

type FieldError = { field: string; message: string }

// Fields that would carry a secret gatehouse must not hold: refused with a message saying why.
const SECRET_FIELDS = new Set(['existing_mfa_base32_encoded_secret'])

export function badRequest(errors: FieldError[]): ProblemError {
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ')
  return new ProblemError(problem(400, 'bad-request', 'Bad Request', detail, { errors }))
}

export function notFound(detail: string): ProblemError {
  return new ProblemError(problems.notFound(detail))
}

function conflict(field: string, message: string, code?: string): ProblemError {
  const extensions = { ...(code === undefined ? {} : { error_code: code }), errors: [{ field, message }] }
  return new ProblemError(problem(409, 'conflict', 'Conflict', `${field}: ${message}`, extensions))
}

/**
 * A refused API key: 404 `not_found`, otherwise 400. The body carries `error_code`, the field in
 * `errors`, and PropelAuth's field-errors shape (`api_key_token: [message]`) for its SDKs.
 */
function apiKeyRefused({ code, message }: ApiKeyRefusedError): ProblemError {
  const field = 'api_key_token'
  const extensions = { error_code: code, errors: [{ field, message }], [field]: [message] }
  return new ProblemError(
    code === 'not_found'
      ? problem(404, 'not-found', 'Not Found', `${field}: ${message}`, extensions)
      : problem(400, 'bad-request', 'Bad Request', `${field}: ${message}`, extensions),
  )
}

/** An invitation the org's rules refuse: 404 (no such invite), 403 (domain rule) or 409 (full, already a member), with its reason as error_code. */
function inviteRefused(err: InviteRefusedError): ProblemError {
  const extensions = { error_code: err.reason }
  if (err.kind === 'gone') return new ProblemError(problem(404, 'not-found', 'Not Found', err.message, extensions))
  return new ProblemError(
    err.kind === 'forbidden'
      ? problem(403, 'forbidden', 'Forbidden', err.message, extensions)
      : problem(409, 'conflict', 'Conflict', err.message, extensions),
  )
}

type ValidationResult = { success: true } | { success: false; error: z.ZodError; target: string }

/** The defaultHook of every route: zod issues become one 400 naming each field. */
export function validationHook(result: ValidationResult): void {
  if (result.success) return
  throw badRequest(result.error.issues.flatMap((issue) => fieldErrors(issue, result.target)))
}

function fieldErrors(issue: z.core.$ZodIssue, target: string): FieldError[] {
  const at = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      field: at ? `${at}.${key}` : key,
      message: SECRET_FIELDS.has(key) ? 'gatehouse stores no MFA secrets; remove this field' : 'unknown field',
    }))
  }
  // A root issue (the body is not an object, or a rule across fields) names the part of the request.
  return [{ field: at || (target === 'json' ? 'body' : target), message: issue.message }]
}

/**
 * Runs a store write, turning its rule breaks into 409s that name the request's field, and a
 * vanished record into a 404. `fields` maps a store field (email, username, membership) to the
 * name the route's body uses.
 */
export async function storeWrite<T>(write: Promise<T>, fields: Record<string, string> = {}): Promise<T> {
  try {
    return await write
  } catch (err) {
    if (err instanceof StoreConflictError) throw conflict(fields[err.field] ?? err.field, err.message)
    if (err instanceof StoreLimitError) throw new ProblemError(problem(409, 'limit-reached', 'Conflict', err.message))
    // A record the route found a moment ago was deleted by a concurrent request.
    if (err instanceof StoreNotFoundError) throw notFound(err.message)
    throw err
  }
}

/** A directory refusal as its problem; undefined for any other error. */
function directoryProblem(err: Error): ProblemError | undefined {
  if (err instanceof NotFoundError) return notFound(err.message)
  if (err instanceof InvalidInputError) return badRequest([{ field: err.field, message: err.message }])
  if (err instanceof ConflictError) return conflict(err.field, err.message, err.code)
  if (err instanceof ApiKeyRefusedError) return apiKeyRefused(err)
  if (err instanceof InviteRefusedError) return inviteRefused(err)
  // The write happened; the mail did not go: the caller may invite again (which replaces the invite).
  if (err instanceof MailDeliveryError)
    return new ProblemError(problems.badGateway(`The invitation was stored but not mailed: ${err.message}`))
  if (err instanceof ApiKeyRateLimitedError) {
    return new ProblemError(problems.tooManyRequests(err.waitSeconds), { 'retry-after': String(Math.max(1, Math.ceil(err.waitSeconds))) })
  }
  return undefined
}

/** The app's onError: known failures as their problem, anything else a 500 that reveals nothing. */
export function respondToError(err: Error): Response {
  const known = err instanceof ProblemError ? err : directoryProblem(err)
  if (known !== undefined) return problemResponse(known.problem, known.headers)
  // Hono's own: malformed JSON (400), a body with a content type other than JSON (415).
  if (err instanceof HTTPException) {
    const [slug, title] = HTTP_EXCEPTIONS[err.status] ?? ['error', 'Error']
    return problemResponse(problem(err.status, slug, title, err.message || title))
  }
  // The store is down: the write did not happen (every write is one statement or transaction).
  if (err instanceof StoreUnavailableError) return problemResponse(problems.serviceUnavailable('The store is unavailable; retry later'))
  return problemResponse(problems.internal())
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(problemBody(p), { status: p.status, headers: { ...headers, 'content-type': PROBLEM_CONTENT_TYPE } })
}

const HTTP_EXCEPTIONS: Record<number, [slug: string, title: string]> = {
  400: ['bad-request', 'Bad Request'],
  415: ['unsupported-media-type', 'Unsupported Media Type'],
}
