/** Narrowing helpers for JSON that arrives from outside: token claims, fetched key sets. */

/** A verified token's payload. */
export type Claims = Readonly<Record<string, unknown>>

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}
