import type { GatehouseConfig } from './schema.ts'

/**
 * Settings that are valid but probably not what was meant: `gatehouse check` prints them and
 * still succeeds, because each has a legitimate use.
 */
export function configWarnings(config: GatehouseConfig): string[] {
  const warnings: string[] = []
  config.tokens.issuers.forEach((issuer, i) => {
    // An OIDC provider signs ID tokens for every client with the same keys; only `aud` tells them apart.
    if (issuer.claims === 'oidc' && issuer.audience === undefined) {
      warnings.push(
        `tokens.issuers[${i}] (${issuer.issuer}): claims: oidc without audience: an ID token for another client would pass; set audience`,
      )
    }
  })
  return warnings
}
