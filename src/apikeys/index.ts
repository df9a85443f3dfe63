export { DEFAULT_PREFIXES, displayOf, generateApiKeySecret, hashApiKeySecret, parseApiKeySecret } from './format.ts'
export type { ApiKeyPrefixes, GeneratedSecret } from './format.ts'
