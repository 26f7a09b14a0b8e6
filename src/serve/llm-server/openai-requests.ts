/**
 * The OpenAI-compatible request bodies the simulated model server accepts, as zod schemas.
 * Unknown fields (temperature, top_p, ...) are accepted and ignored, as real servers do.
 */
import { z } from 'zod';

const maxTokens = z.number().int().min(1).max(32_768);

export const completionRequestSchema = z.looseObject({
  model: z.string().max(256).optional(),
  prompt: z.union([z.string().max(4_000_000), z.array(z.string().max(4_000_000)).min(1).max(1)]),
  max_tokens: maxTokens.optional(),
  stream: z.boolean().optional(),
});

const contentPart = z.looseObject({ type: z.string(), text: z.string().max(4_000_000).optional() });

export const chatRequestSchema = z.looseObject({
  model: z.string().max(256).optional(),
  messages: z.array(z.looseObject({
    role: z.string().max(64),
    content: z.union([z.string().max(4_000_000), z.array(contentPart).max(1_000), z.null()]),
  })).min(1).max(10_000),
  max_tokens: maxTokens.optional(),
  max_completion_tokens: maxTokens.optional(),
  stream: z.boolean().optional(),
});

export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** The text a chat request's prompt is made of: each message as "role: content" on a line. */
export function chatPromptText(req: ChatRequest): string {
  return req.messages.map((m) => {
    const content = typeof m.content === 'string' ? m.content
      : Array.isArray(m.content) ? m.content.map((p) => p.text ?? '').join('') : '';
    return `${m.role}: ${content}`;
  }).join('\n');
}

/** OpenAI's error body. */
export function openAiError(message: string, code: string, param?: string): { error: { message: string; type: string; param: string | null; code: string } } {
  return { error: { message, type: 'invalid_request_error', param: param ?? null, code } };
}
