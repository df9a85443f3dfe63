/**
 * Why a directory operation refused, in the directory's terms; each front end says it its own way
 * (the admin API as a problem with a status, the CLI through the admin API). `field` names the
 * input to blame, as the operation's input (PropelAuth's field names) spells it.
 */

/** A record the operation needs does not exist. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NotFoundError'
  }
}

/** An input breaks a rule of the directory. */
export class InvalidInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message)
    this.name = 'InvalidInputError'
  }
}

/** The write conflicts with what is stored; `code` names the record's state that forbids it (protected, archived). */
export class ConflictError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly code?: 'protected' | 'archived',
  ) {
    super(message)
    this.name = 'ConflictError'
  }
}

/** Why an API key failed validation; the validate endpoints say which (the proxy answers all with one 401). */
export type ApiKeyRefusal = 'not_found' | 'expired' | 'archived' | 'owner_disabled' | 'not_personal' | 'not_org'

export class ApiKeyRefusedError extends Error {
  constructor(
    readonly code: ApiKeyRefusal,
    message: string,
  ) {
    super(message)
    this.name = 'ApiKeyRefusedError'
  }
}

/** A valid key whose owner's rate limits (the proxy's budgets) have no room for this validation now. */
export class ApiKeyRateLimitedError extends Error {
  constructor(readonly waitSeconds: number) {
    super(`rate limit exceeded; retry in ${waitSeconds} s`)
    this.name = 'ApiKeyRateLimitedError'
  }
}

/** Why a sign-in was refused: logged, never told (the client hears one answer for all of them). */
export type LoginRefusal = 'unknown_email' | 'no_password' | 'wrong_password' | 'disabled'

export class LoginRefusedError extends Error {
  constructor(readonly reason: LoginRefusal) {
    super('invalid email or password')
    this.name = 'LoginRefusedError'
  }
}

/** Why a one-time link was refused: logged, never told (the browser hears one answer). */
export type LinkRefusal = 'unknown' | 'used_or_expired' | 'user_disabled'

export class LinkRefusedError extends Error {
  constructor(readonly reason: LinkRefusal) {
    super('This link is invalid, used or expired')
    this.name = 'LinkRefusedError'
  }
}

/** The caller may not do this to this record (a key that is neither theirs nor of an org they manage). */
export class NotPermittedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NotPermittedError'
  }
}

/**
 * Why an invitation was refused, made or accepted. An unknown, used, revoked or expired invite is
 * one answer to the browser (`not_found`-like); the others say what to do about it.
 */
export type InviteRefusal =
  | 'not_found'
  | 'used'
  | 'revoked'
  | 'expired'
  | 'org_full'
  | 'domain_not_allowed'
  | 'email_mismatch'
  | 'already_member'
  | 'sign_in_first'
  | 'user_disabled'

/**
 * What kind of refusal each reason is, for the front ends' statuses: `gone` (the link does not
 * work: one answer for all four), `forbidden` (the org's or the invite's rule excludes this
 * person), `conflict` (the state of the org or the user stands in the way).
 */
const INVITE_REFUSAL_KINDS: Record<InviteRefusal, 'gone' | 'forbidden' | 'conflict'> = {
  not_found: 'gone',
  used: 'gone',
  revoked: 'gone',
  expired: 'gone',
  domain_not_allowed: 'forbidden',
  email_mismatch: 'forbidden',
  user_disabled: 'forbidden',
  org_full: 'conflict',
  already_member: 'conflict',
  sign_in_first: 'conflict',
}

export class InviteRefusedError extends Error {
  constructor(
    readonly reason: InviteRefusal,
    message: string,
  ) {
    super(message)
    this.name = 'InviteRefusedError'
  }

  get kind(): 'gone' | 'forbidden' | 'conflict' {
    return INVITE_REFUSAL_KINDS[this.reason]
  }
}
