export { explainRequest } from './explain.ts'
export type { ExplainDeps, ExplainInput, Explanation } from './explain.ts'
export { formatExplanation } from './format.ts'
