// The child side of conversation.test.ts: answers `double`, fails `fail`, never answers `hang`,
// and tells `ready` once it listens. Run with an IPC channel (child_process.fork).
import { converse } from '../../src/cluster/conversation.ts'
import type { Port } from '../../src/cluster/conversation.ts'

const conversation = converse<Record<never, never>, { ready: { pid: number } }, PeerQuestions, Record<never, never>>(
  process as unknown as Port,
  {
    double: (n) => n * 2,
    fail: async () => {
      throw new Error('refused on purpose')
    },
    hang: () => new Promise<null>(() => {}),
  },
  {},
)
process.once('disconnect', () => process.exit(0))
void conversation.tell('ready', { pid: process.pid })

export type PeerQuestions = {
  double: { ask: number; reply: number }
  fail: { ask: null; reply: null }
  hang: { ask: null; reply: null }
}
