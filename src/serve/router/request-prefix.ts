/**
 * What the router reads from an OpenAI-compatible request body: the prompt's token count and
 * the chained hashes of its leading blocks (for prefix affinity), and the output tokens asked
 * for (for the autoscaler). A body that is not such a request gives nothing, and is forwarded
 * as it came.
 */
import { promptBlocks } from '../llm-model/prompt-blocks.js';
import { chatPromptText, chatRequestSchema, completionRequestSchema } from '../llm-server/openai-requests.js';

export interface PromptShape {
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly prefixBlocks: readonly number[];
}

const NONE: PromptShape = { promptTokens: 0, outputTokens: 0, prefixBlocks: [] };
const OPENAI_PATHS = /^\/v1\/(chat\/)?completions\/?(\?|$)/;

/** True when `path` (after the service prefix) is an OpenAI completion endpoint worth reading. */
export function isOpenAiCompletion(method: string, path: string): boolean {
  return method === 'POST' && OPENAI_PATHS.test(path);
}

export function promptShape(path: string, body: Buffer, blockTokens: number, depth: number, defaultMaxTokens = 16): PromptShape {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return NONE;
  }
  let text: string;
  let maxTokens: number | undefined;
  if (path.startsWith('/v1/chat/')) {
    const r = chatRequestSchema.safeParse(json);
    if (!r.success) return NONE;
    text = chatPromptText(r.data);
    maxTokens = r.data.max_completion_tokens ?? r.data.max_tokens;
  } else {
    const r = completionRequestSchema.safeParse(json);
    if (!r.success) return NONE;
    text = Array.isArray(r.data.prompt) ? (r.data.prompt[0] ?? '') : r.data.prompt;
    maxTokens = r.data.max_tokens;
  }
  const { tokens, hashes } = promptBlocks(text, blockTokens, depth);
  return { promptTokens: Math.max(1, tokens), outputTokens: maxTokens ?? defaultMaxTokens, prefixBlocks: hashes };
}
