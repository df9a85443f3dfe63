import type { ClaimPreset } from '../config/index.ts'
import { emptyOrgs } from '../identity/index.ts'
import type { Identity } from '../identity/index.ts'
import type { Claims } from './json.ts'
import { InvalidTokenError } from './errors.ts'
import { nonEmptyString } from './json.ts'
import { stringList } from './token-roles.ts'

/**
 * Tokens that stand for a client, not a person (OAuth client credentials). They become
 * `principal: service`: they pass `auth: authenticated` and `credentials: [service_token]` routes,
 * never `auth: user`, and have no orgs. The rule is the issuer's `service_token_claims` when set,
 * else its preset's; what makes a token a service token must be something no user can put into
 * their own token, as a service token passes routes a user token does not.
 */
export type ServiceTokenRule = (claims: Claims) => boolean

// OpenID Connect Core §5.1: claims about the end user; a client's own token has none of them.
const USER_CLAIMS = [
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'email',
  'email_verified',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'phone_number',
  'phone_number_verified',
  'address',
  'updated_at',
]

/**
 * RFC 9068 §2.2: in a client-credentials token `sub` is the client itself, so it equals
 * `client_id` (or OIDC's `azp`, or Okta's `cid`); a token about a user has that user's `sub` and,
 * often, user claims.
 */
function subjectIsTheClient(claims: Claims): boolean {
  const sub = nonEmptyString(claims.sub)
  if (!sub || (sub !== claims.client_id && sub !== claims.azp && sub !== claims.cid)) return false
  return !USER_CLAIMS.some((claim) => Object.hasOwn(claims, claim))
}

/**
 * Auth0 marks machine-to-machine tokens `gty: client-credentials` (their `sub` is `<client_id>@clients`).
 * Keycloak's service-account tokens have the service account's own user id as `sub`, and its
 * `service_account` client scope adds `client_id` (`clientId` before Keycloak 25), equal to `azp`.
 */
const PRESET_RULES: Record<ClaimPreset, ServiceTokenRule> = {
  // PropelAuth tokens always stand for a user; machines use API keys.
  propelauth: () => false,
  oidc: subjectIsTheClient,
  clerk: subjectIsTheClient,
  auth0: (claims) => claims.gty === 'client-credentials' || subjectIsTheClient(claims),
  keycloak: (claims) => {
    const azp = nonEmptyString(claims.azp)
    return (azp !== undefined && (claims.client_id === azp || claims.clientId === azp)) || subjectIsTheClient(claims)
  },
}

export function serviceTokenRule(preset: ClaimPreset, configured: Readonly<Record<string, string>> | undefined): ServiceTokenRule {
  if (!configured) return PRESET_RULES[preset]
  const required = Object.entries(configured)
  // Every named claim must hold its value: equal to a string claim, or among an array claim's entries.
  return (claims) =>
    required.every(([name, value]) => {
      const stated = Object.hasOwn(claims, name) ? claims[name] : undefined
      return stated === value || (Array.isArray(stated) && stated.includes(value))
    })
}

export function serviceIdentity(claims: Claims): Identity {
  // Auth0's sub is `<client_id>@clients`: azp names the client as configured, so it comes before sub.
  const clientId =
    nonEmptyString(claims.client_id) ??
    nonEmptyString(claims.azp) ??
    nonEmptyString(claims.cid) ??
    nonEmptyString(claims.clientId) ??
    nonEmptyString(claims.sub)
  if (!clientId) throw new InvalidTokenError('the service token names no client (client_id, azp, cid or sub)')
  return {
    principal: 'service',
    method: 'token',
    orgs: emptyOrgs(),
    clientId,
    // A service token's scopes are all it may do: none stated is none granted.
    scopes: tokenScopes(claims) ?? [],
  }
}

/** RFC 8693 / RFC 9068 `scope` (space-separated), or the `scp` array (or string) Okta and Azure AD use. */
export function tokenScopes(claims: Claims): readonly string[] | undefined {
  return stringList(Object.hasOwn(claims, 'scope') ? claims.scope : Object.hasOwn(claims, 'scp') ? claims.scp : undefined)
}
