/*
 * What the authorization command reads and prints, version 1: the same shapes as the
 * authorization webhook (docs/authz-webhook.md), carried over stdin/stdout instead of HTTP.
 */

// The same contract as the webhook (decision-protocol.ts), under the command's names.
export {
  decisionAnswerSchema as commandAuthzAnswerSchema,
  decisionSchema as commandDecisionSchema,
  type DecisionAnswer as CommandAuthzAnswer,
  type DecisionRequest as CommandAuthzRequest,
} from '../decision-protocol.js';
