export { restartOnlyChanges, settingsKey } from './restart-only.ts'
export { watchConfigFile, WATCH_DEBOUNCE_MS } from './watch.ts'
export { createGenerations } from './generations.ts'
export type { Generations, Retirable } from './generations.ts'
