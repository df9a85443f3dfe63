import type { GatehouseConfig } from './schema.ts'

// The presets whose tokens always state roles; with oidc, roles are read only when org_role names their claim.
const ROLE_PRESETS: ReadonlySet<string> = new Set(['clerk', 'keycloak'])

/**
 * Settings that are valid but probably not what was meant: `gatehouse check` prints them and
 * still succeeds, because each has a legitimate use.
 */
export function configWarnings(config: GatehouseConfig): string[] {
  const warnings: string[] = []
  const defined = new Set(config.roles.map((role) => role.name))
  config.tokens.issuers.forEach((issuer, i) => {
    // An OIDC provider signs ID tokens for every client with the same keys; only `aud` tells them apart.
    const where = `tokens.issuers[${i}] (${issuer.issuer})`
    if (issuer.claims === 'oidc' && issuer.audience === undefined) {
      warnings.push(`${where}: claims: oidc without audience: an ID token for another client would pass; set audience`)
    }
    // A role the config does not define passes no role check: a mapping to one is almost surely a typo.
    for (const [from, to] of issuer.roleMap) {
      if (!defined.has(to))
        warnings.push(`${where}: role_map maps "${from}" to "${to}", which roles: does not define; it passes no role check`)
    }
    if (ROLE_PRESETS.has(issuer.claims) && defined.size === 0) {
      warnings.push(
        `${where}: claims: ${issuer.claims} maps the token's roles to roles: but none are defined; no token passes a role check`,
      )
    }
  })
  return warnings
}
