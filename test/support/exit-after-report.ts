/**
 * Preloaded into every test process (`npm test`): once the test runner has reported a file and
 * nothing is left to run, the process exits through process.exit instead of Node's teardown.
 *
 * Node 20's teardown (FreeEnvironment → Environment::CleanupHandles) can spin at 100% CPU forever
 * after the last test: seen once in a CI run of test/e2e/scale-out.test.ts, whose every test had
 * passed, with libuv holding no active handle or request (nodejs/node#47748 describes the same).
 * process.exit ends the process without that step, with the exit code the runner set.
 *
 * Not --test-force-exit: on Node 20 that ends a file while suites are still queued (8454c3f).
 * This runs only at 'beforeExit', when the event loop is empty and so nothing is queued, and
 * after the runner's own listener there has reported the file.
 */
let waited = false

process.on('beforeExit', () => {
  if (process.listenerCount('beforeExit') > 1) {
    // The runner's listener comes after this one and removes itself once it has reported: one
    // more turn of the loop makes beforeExit come again after it. Only once, so that a listener
    // that stays cannot keep the process turning; then Node's own exit follows.
    if (!waited) setImmediate(() => {})
    waited = true
    return
  }
  process.stdout.write('', () => process.exit())
})
