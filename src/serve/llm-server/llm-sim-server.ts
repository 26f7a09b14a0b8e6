/**
 * The simulated LLM model server: a real HTTP process with an OpenAI-compatible API
 * (`/v1/completions`, `/v1/chat/completions`, streaming by server-sent events), `/v1/models`,
 * `/health` and vLLM-named `/metrics`. Its latencies come from LlmEngine (prefill per prompt
 * token, cheaper for a cached prefix; decode per token, slower with more sequences; a bounded KV
 * cache), run on the wall clock. Tests and benchmarks run it behind Gantry's router and
 * autoscaler as they would run vLLM, without a GPU.
 *
 * Lifecycle: it loads first (reads the weights files if given, then waits `loadSeconds`) and
 * answers `/health` 503 until then; on drain (SIGTERM) it refuses new requests with 503, lets
 * every open stream finish, then closes.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ZodType } from 'zod';
import { LlmEngine } from '../llm-model/llm-engine.js';
import type { LlmEngineProfile } from '../llm-model/engine-profile.js';
import { promptBlocks } from '../llm-model/prompt-blocks.js';
import { WallClockEngine } from './wall-clock-engine.js';
import { chatPromptText, chatRequestSchema, completionRequestSchema, openAiError } from './openai-requests.js';
import { llmServerMetrics, type LlmServerMetrics } from './server-metrics.js';

export interface LlmSimServerOptions {
  readonly model: string;
  readonly profile: LlmEngineProfile;
  /** Multiplies every modelled duration (0.1 = ten times faster than the model). */
  readonly timeScale: number;
  /** Extra seconds of start-up after the weights are read (model initialisation). */
  readonly loadSeconds: number;
  /** A file or folder read in full before the server is ready, as a real server loads weights. */
  readonly weightsPath?: string;
  readonly maxTokensDefault: number;
}

const WORDS = ['the', 'model', 'answers', 'with', 'simulated', 'tokens', 'that', 'follow', 'a', 'timing', 'profile', 'of', 'prefill', 'and', 'decode', 'steps'];

export class LlmSimServer {
  readonly app: FastifyInstance;
  readonly engine: LlmEngine;
  private readonly clock: WallClockEngine;
  private readonly metrics: LlmServerMetrics;
  private ready = false;
  private draining = false;
  private nextId = 0;
  private openResponses = 0;
  /** Phases of the start-up, in seconds, for `/health` and the log. */
  readonly startup: { weightsSeconds: number; initSeconds: number; weightsBytes: number } = { weightsSeconds: 0, initSeconds: 0, weightsBytes: 0 };

  constructor(private readonly opts: LlmSimServerOptions) {
    this.engine = new LlmEngine(opts.profile);
    this.clock = new WallClockEngine(this.engine, opts.timeScale);
    this.metrics = llmServerMetrics(this.engine, opts.model);
    this.app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
    this.app.setErrorHandler((err: { statusCode?: number; message: string; code?: string }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      void reply.code(status).send(openAiError(status === 500 ? 'internal error' : err.message, err.code ?? 'bad_request'));
    });
    this.app.setNotFoundHandler((req, reply) => { void reply.code(404).send(openAiError(`no route ${req.method} ${req.url}`, 'not_found')); });
    this.routes();
  }

  /** Reads the weights and waits out the init time; `/health` turns 200 after. */
  async load(): Promise<void> {
    const t0 = performance.now();
    if (this.opts.weightsPath) this.startup.weightsBytes = await readAll(this.opts.weightsPath);
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, this.opts.loadSeconds * 1000));
    const t2 = performance.now();
    this.startup.weightsSeconds = (t1 - t0) / 1000;
    this.startup.initSeconds = (t2 - t1) / 1000;
    this.metrics.loadSeconds.set((t2 - t0) / 1000);
    this.ready = true;
  }

  /** Refuses new requests, waits for open ones (at most `timeoutMs`), then closes. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const deadline = new Promise((r) => setTimeout(r, timeoutMs).unref());
    const open = (async () => {
      await this.clock.idle();
      while (this.openResponses > 0) await new Promise((r) => setTimeout(r, 10));
    })();
    await Promise.race([open, deadline]);
    await this.app.close();
  }

  private routes(): void {
    this.app.get('/health', async (_req, reply) => {
      const status = this.draining ? 'draining' : this.ready ? 'ok' : 'loading';
      return reply.code(status === 'ok' ? 200 : 503).send({ status, startup: this.startup, ...this.engine.stats() });
    });
    this.app.get('/v1/models', async () => ({ object: 'list', data: [{ id: this.opts.model, object: 'model', owned_by: 'gantry-sim' }] }));
    this.app.get('/metrics', async (_req, reply) => reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()));
    this.app.post('/v1/completions', async (req, reply) => {
      const body = this.parse(completionRequestSchema, req, reply);
      if (!body) return reply;
      const prompt = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt;
      return this.generate(req, reply, 'completion', prompt, body.max_tokens ?? this.opts.maxTokensDefault, body.stream === true);
    });
    this.app.post('/v1/chat/completions', async (req, reply) => {
      const body = this.parse(chatRequestSchema, req, reply);
      if (!body) return reply;
      return this.generate(req, reply, 'chat', chatPromptText(body), body.max_completion_tokens ?? body.max_tokens ?? this.opts.maxTokensDefault, body.stream === true);
    });
  }

  private parse<T>(schema: ZodType<T>, req: FastifyRequest, reply: FastifyReply): T | null {
    const r = schema.safeParse(req.body);
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    const where = issue.path.join('.') || 'body';
    void reply.code(400).send(openAiError(`${where}: ${issue.message}`, 'invalid_request', where));
    return null;
  }

  private async generate(_req: FastifyRequest, reply: FastifyReply, kind: 'completion' | 'chat', prompt: string, maxTokens: number, stream: boolean): Promise<FastifyReply> {
    if (!this.ready || this.draining) {
      return reply.code(503).header('retry-after', '1').send(openAiError(this.draining ? 'server is draining' : 'model is loading', 'unavailable'));
    }
    const { tokens, hashes } = promptBlocks(prompt, this.opts.profile.blockTokens);
    const promptTokens = Math.max(1, tokens);
    const id = `cmpl-${process.pid}-${++this.nextId}`;
    const arrival = performance.now();
    const object = kind === 'chat' ? (stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
    const created = Math.floor(Date.now() / 1000);
    const usage = (n: number): Record<string, number> => ({ prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n });
    const piece = (index: number): string => ` ${WORDS[(this.nextId + index) % WORDS.length]}`;
    const choice = (text: string, finish: string | null): Record<string, unknown> =>
      kind === 'chat'
        ? (stream ? { index: 0, delta: { role: 'assistant', content: text }, finish_reason: finish } : { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish })
        : { index: 0, text, finish_reason: finish };
    let last = arrival;
    const observe = (index: number, done: boolean): void => {
      const t = performance.now();
      if (index === 0) this.metrics.ttft.observe((t - arrival) / 1000);
      else this.metrics.itl.observe((t - last) / 1000);
      last = t;
      if (done) {
        this.metrics.e2e.observe((t - arrival) / 1000);
        this.metrics.requests.inc({ finished_reason: 'length' });
      }
    };
    const request = { id, promptTokens, blockHashes: hashes, maxTokens };

    if (!stream) {
      let text = '';
      try {
        await new Promise<void>((resolve, reject) => {
          try {
            this.clock.submit(request, (ev) => { observe(ev.index, ev.done); text += piece(ev.index); if (ev.done) resolve(); });
          } catch (e) { reject(e); }
          reply.raw.once('close', () => { if (!reply.raw.writableEnded) this.clock.cancel(id); });
        });
      } catch (e) {
        return reply.code(400).send(openAiError((e as Error).message, 'context_length_exceeded', 'max_tokens'));
      }
      return reply.send({ id, object, created, model: this.opts.model, choices: [choice(text, 'length')], usage: usage(maxTokens) });
    }

    // Streaming: one server-sent event per token, then the usage and [DONE].
    try {
      this.clock.submit(request, (ev) => {
        observe(ev.index, ev.done);
        const chunk = { id, object, created, model: this.opts.model, choices: [choice(piece(ev.index), ev.done ? 'length' : null)] };
        reply.raw.write(`data: ${JSON.stringify(chunk)}\n\n`);
        if (ev.done) {
          reply.raw.write(`data: ${JSON.stringify({ id, object, created, model: this.opts.model, choices: [], usage: usage(maxTokens) })}\n\n`);
          reply.raw.end('data: [DONE]\n\n');
        }
      });
    } catch (e) {
      return reply.code(400).send(openAiError((e as Error).message, 'context_length_exceeded', 'max_tokens'));
    }
    reply.hijack();
    this.openResponses++;
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.once('close', () => {
      this.openResponses--;
      if (!reply.raw.writableEnded) this.clock.cancel(id);
    });
    return reply;
  }
}

/** Reads a file or every file under a folder, discarding the bytes; returns the byte count. */
async function readAll(path: string): Promise<number> {
  const files: string[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) for (const name of readdirSync(p).sort()) walk(join(p, name));
    else files.push(p);
  };
  walk(path);
  let bytes = 0;
  for (const f of files) {
    for await (const chunk of createReadStream(f, { highWaterMark: 4 * 1024 * 1024 })) bytes += (chunk as Buffer).length;
  }
  return bytes;
}
