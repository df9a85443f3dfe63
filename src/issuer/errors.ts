/**
 * Why mint refused: 404 the user does not exist or is disabled (PropelAuth, too, answers a
 * locked user like an absent one); 400 the request is unusable, e.g. activeOrgId is not one of
 * the user's orgs, with `field` naming the request field to blame (`active_org_id`; `user_id`
 * when absent). The directory checks these first; mint's own checks cover writes that land
 * between the check and the signing.
 */
export class AccessTokenError extends Error {
  readonly status: 400 | 404
  readonly field: string | undefined

  constructor(status: 400 | 404, message: string, field?: string) {
    super(message)
    this.name = 'AccessTokenError'
    this.status = status
    this.field = field
  }
}
