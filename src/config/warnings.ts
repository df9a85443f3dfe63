import type { GatehouseConfig } from './schema.ts'

// The presets whose tokens always state roles; with oidc and auth0, only when org_role names their claim.
const ROLE_PRESETS: ReadonlySet<string> = new Set(['clerk', 'keycloak'])
// OpenID providers, whose ID tokens for every client are signed with the same keys (Clerk's session tokens carry no aud).
const AUDIENCE_PRESETS: ReadonlySet<string> = new Set(['oidc', 'auth0', 'keycloak'])

/**
 * Settings that are valid but probably not what was meant: `gatehouse check` prints them and
 * still succeeds, because each has a legitimate use.
 */
export function configWarnings(config: GatehouseConfig): string[] {
  const warnings: string[] = []
  const defined = new Set(config.roles.map((role) => role.name))
  config.tokens.issuers.forEach((issuer, i) => {
    const where = `tokens.issuers[${i}] (${issuer.issuer})`
    // An OIDC provider signs ID tokens for every client with the same keys; only `aud` tells them apart.
    if (AUDIENCE_PRESETS.has(issuer.claims) && issuer.audience === undefined) {
      warnings.push(`${where}: claims: ${issuer.claims} without audience: an ID token for another client would pass; set audience`)
    }
    // A role the config does not define passes no role check: a mapping to one is almost surely a typo.
    for (const [from, to] of issuer.roleMap) {
      if (!defined.has(to))
        warnings.push(`${where}: role_map maps "${from}" to "${to}", which roles: does not define; it passes no role check`)
    }
    const readsRoles = ROLE_PRESETS.has(issuer.claims) || (issuer.claims !== 'propelauth' && issuer.oidc.orgRole !== undefined)
    if (readsRoles && defined.size === 0) {
      warnings.push(
        `${where}: claims: ${issuer.claims} maps the token's roles to roles: but none are defined; no token passes a role check`,
      )
    }
  })
  return warnings
}
