import { randomUUID } from 'node:crypto'
import * as argon2 from '@node-rs/argon2'
import bcrypt from 'bcryptjs'
import { InvalidInputError } from './errors.ts'

/**
 * Password hashing: Argon2id through @node-rs/argon2 (a prebuilt N-API binding shipped in the npm
 * package, so no compiler at install), with OWASP's first recommended parameter set. Each hash
 * is a PHC string that carries its own m, t and p, so raising these constants rehashes every
 * password at its owner's next successful login. Imported bcrypt hashes ($2a$, $2b$, $2y$) are
 * verified with bcryptjs (pure JavaScript: verifying an import once per user needs no native code) and replaced by Argon2id the same way.
 */
export const ARGON2ID_PARAMETERS = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 })

/** Long enough to rule out the shortest guesses, bounded so one request cannot make the hash work on megabytes. */
export const PASSWORD_LENGTH = Object.freeze({ min: 8, max: 1024 })

const ARGON2ID = 2
const BCRYPT_PREFIX = /^\$2[aby]\$/
// Modular crypt form: version, a cost of 4 to 31, then 22 characters of salt and 31 of hash.
const BCRYPT_HASH = /^\$2[aby]\$(?:0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/

export function checkPasswordRules(password: string, field = 'password'): void {
  const length = [...password].length
  if (length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max) {
    throw new InvalidInputError(field, `a password has ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters`)
  }
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2ID_PARAMETERS)
}

/** An imported hash, checked to be one gatehouse can verify; anything else names `field`. */
export function checkImportedHash(hash: string, field: string): string {
  try {
    if (BCRYPT_HASH.test(hash)) return hash
    if (hash.startsWith('$argon2id$') && argon2.parseOptions(hash).algorithm === ARGON2ID) return hash
  } catch {
    // A malformed hash of a known kind falls through to the same refusal as an unknown kind.
  }
  throw new InvalidInputError(field, 'must be a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) hash')
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return BCRYPT_PREFIX.test(hash) ? await bcrypt.compare(password, hash) : await argon2.verify(hash, password)
  } catch {
    return false
  }
}

/** Whether a hash that just verified should be replaced by one with the current parameters. */
export function needsRehash(hash: string): boolean {
  if (!hash.startsWith('$argon2id$')) return true
  try {
    const p = argon2.parseOptions(hash)
    return (
      p.memoryCost < ARGON2ID_PARAMETERS.memoryCost ||
      p.timeCost < ARGON2ID_PARAMETERS.timeCost ||
      p.parallelism < ARGON2ID_PARAMETERS.parallelism
    )
  } catch {
    return true
  }
}

let dummy: Promise<string> | undefined
/**
 * A hash with the current parameters of a password nobody has: verifying against it costs what a
 * real verification costs, so an unknown email (or a user without a password) takes as long to
 * refuse as a wrong password.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomUUID())
  return dummy
}
