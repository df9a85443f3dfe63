export { createLocalIssuer } from './local-issuer.ts'
export type { LocalIssuer, LocalIssuerAlgorithm, MintRequest } from './local-issuer.ts'
