export {
  checkHttpVersion,
  checkInboundHeaders,
  declaresBody,
  INBOUND_NAME_LENGTHS,
  inboundHeadersOf,
  inboundTally,
  singleHeader,
  singleQueryParam,
  tallyInboundHeader,
} from './inbound.ts'
export type { InboundHeaders, InboundTally } from './inbound.ts'
export { normalizeTarget } from './normalize.ts'
export type { NormalizedTarget } from './normalize.ts'
export { createForwardedHeaders, createInboundHeaderFilter, createTrustedPeerCheck, encodeHeaderValue } from './headers.ts'
export type { Forwarded, ForwardedInput, HeaderPolicy } from './headers.ts'
export { PROBLEM_CONTENT_TYPE, ProblemError, problem, problemBody, problems } from './problem.ts'
export type { Problem } from './problem.ts'
export { sendProblem } from './send.ts'
export { answerClientError, answerOnSocket } from './raw-answers.ts'
export type { ParserRefusalReason } from './raw-answers.ts'
export { createGracefulServer } from './listener.ts'
export type { GracefulServer, ListenerHandlers, ListenerTimeouts, UpgradeHandler } from './listener.ts'
export { parseCidr } from './networks.ts'
export type { Network } from './networks.ts'
