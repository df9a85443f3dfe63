#!/usr/bin/env node
import { main } from './main.ts'

// An explicit exit: a stopped gateway must not linger on a stray timer or socket.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
