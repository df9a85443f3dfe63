import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'

/** How long a burst of file events (an editor's write, rename and chmod) is let settle before one reload. */
export const WATCH_DEBOUNCE_MS = 200

/**
 * Calls `onChange` once per burst of changes to `file`. The folder is watched, not the file:
 * editors and `kubectl` ConfigMap updates replace the file by a rename, after which a watch on the
 * old file would hear nothing more.
 */
export function watchConfigFile(file: string, onChange: () => void): { close(): void } {
  const name = basename(file)
  let timer: NodeJS.Timeout | undefined
  const watcher: FSWatcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith('..data')) return
    clearTimeout(timer)
    timer = setTimeout(onChange, WATCH_DEBOUNCE_MS)
  })
  return {
    close() {
      clearTimeout(timer)
      watcher.close()
    },
  }
}
