import type { IncomingMessage } from 'node:http'
import { problem, ProblemError, problems } from '../http/index.ts'

/** A sign-in form is a few hundred bytes; anything near this bound is not one. */
export const MAX_FORM_BYTES = 8 * 1024

/** The string fields of a small JSON object or form-encoded body; `json` says which it was (it decides the answer's form). */
export type FormBody = { fields: ReadonlyMap<string, string>; json: boolean }

const tooLarge = () =>
  new ProblemError(problem(413, 'content-too-large', 'Content Too Large', `The body is limited to ${MAX_FORM_BYTES} bytes`))

/**
 * Reads a sign-in body: `application/json` (an object whose fields used here are strings) or
 * `application/x-www-form-urlencoded` (each field once), at most MAX_FORM_BYTES, else 413 before
 * the rest is read; any other media type is 415.
 */
export async function readFormBody(req: IncomingMessage): Promise<FormBody> {
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase()
  const json = mediaType === 'application/json'
  if (!json && mediaType !== 'application/x-www-form-urlencoded') {
    throw new ProblemError(
      problem(415, 'unsupported-media-type', 'Unsupported Media Type', 'Send application/json or application/x-www-form-urlencoded'),
    )
  }
  if (Number(req.headers['content-length'] ?? '0') > MAX_FORM_BYTES) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_FORM_BYTES) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  return { fields: json ? jsonFields(text) : formFields(text), json }
}

function jsonFields(text: string): Map<string, string> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ProblemError(problems.badRequest('The body is not valid JSON'))
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProblemError(problems.badRequest('The body must be a JSON object'))
  }
  const fields = new Map<string, string>()
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new ProblemError(problems.badRequest(`${name.slice(0, 64)} must be a string`))
    fields.set(name, value)
  }
  return fields
}

function formFields(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(text)) {
    if (fields.has(name)) throw new ProblemError(problems.badRequest(`${name.slice(0, 64)} was sent more than once`))
    fields.set(name, value)
  }
  return fields
}

/** A required field, bounded; 400 naming it otherwise (never echoing its value). */
export function requiredField(body: FormBody, name: string, maxLength: number): string {
  const value = body.fields.get(name)
  if (value === undefined || value === '') throw new ProblemError(problems.badRequest(`${name} is required`))
  if (value.length > maxLength) throw new ProblemError(problems.badRequest(`${name} is longer than ${maxLength} characters`))
  return value
}

/** An optional short field (a name), bounded; absent or empty leaves it out. */
export function optionalField(body: FormBody, name: string, maxLength = 255): Record<string, string> {
  const value = body.fields.get(name)
  if (value === undefined || value === '') return {}
  if (value.length > maxLength) throw new ProblemError(problems.badRequest(`${name} is longer than ${maxLength} characters`))
  return { [name]: value }
}
