import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { converse, ConversationError } from '../../src/cluster/conversation.ts'
import type { PeerQuestions } from './peer.ts'

const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url))

/** A real child process on an IPC channel, and this side's conversation with it. */
async function withPeer() {
  const child = fork(PEER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  let ready!: (pid: number) => void
  const readyPid = new Promise<number>((resolve) => (ready = resolve))
  const conversation = converse<PeerQuestions, Record<never, never>, Record<never, never>, { ready: { pid: number } }>(
    child,
    {},
    { ready: ({ pid }) => ready(pid) },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, conversation, readyPid, exited }
}

describe('questions and notices over the IPC channel (src/cluster/conversation.ts)', () => {
  it('answers each question under its own id, carries a refusal back as an error, and hears notices', async () => {
    const { child, conversation, readyPid, exited } = await withPeer()
    try {
      assert.equal(await readyPid, child.pid)
      const answers = await Promise.all([1, 2, 3, 21].map((n) => conversation.ask('double', n)))
      assert.deepEqual(answers, [2, 4, 6, 42])
      await assert.rejects(
        conversation.ask('fail', null),
        (err: Error) => err instanceof ConversationError && /refused on purpose/.test(err.message),
      )
      assert.equal(await conversation.ask('double', 5), 10, 'a refusal leaves the channel working')
    } finally {
      child.disconnect()
      await exited
    }
  })

  it('fails the questions still waiting when the peer goes away, and any asked after', async () => {
    const { child, conversation, readyPid, exited } = await withPeer()
    await readyPid
    const waiting = conversation.ask('hang', null)
    child.once('exit', () => conversation.close('the peer exited'))
    child.kill('SIGKILL')
    await exited
    await assert.rejects(waiting, /the peer exited/)
    await assert.rejects(conversation.ask('double', 1), /the peer exited/)
  })
})
