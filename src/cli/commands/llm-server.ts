/**
 * `gantry sim llm-server`: runs the simulated OpenAI-compatible model server (see
 * src/serve/llm-server/llm-sim-server.ts) as a real process, for examples, tests and benchmarks.
 * It prints one line `listening on http://HOST:PORT` once it accepts connections, and drains on
 * SIGTERM or SIGINT.
 */
import { readFileSync, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { DEFAULT_LLM_ENGINE_PROFILE, llmEngineProfileSchema, type LlmEngineProfile } from '../../serve/llm-model/engine-profile.js';
import { LlmSimServer } from '../../serve/llm-server/llm-sim-server.js';
import { parseNumber } from '../flags.js';

interface LlmServerFlags {
  port: string;
  host: string;
  model: string;
  profile?: string;
  timeScale: string;
  loadSeconds: string;
  weights?: string;
  maxTokens: string;
  drainSeconds: string;
}

/** `--profile` is inline JSON or a JSON file; its fields override the defaults. */
export function parseProfile(value: string | undefined): LlmEngineProfile {
  if (value === undefined) return DEFAULT_LLM_ENGINE_PROFILE;
  let raw: unknown;
  try {
    raw = JSON.parse(value.trim().startsWith('{') ? value : readFileSync(value, 'utf8'));
  } catch (e) {
    throw new UserError('BAD_FLAG', `--profile: not JSON and not a readable JSON file (${(e as Error).message})`);
  }
  const r = llmEngineProfileSchema.strict().safeParse({ ...DEFAULT_LLM_ENGINE_PROFILE, ...(raw as object) });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UserError('BAD_FLAG', `--profile: ${issue.path.join('.') || 'value'}: ${issue.message} (fields: ${Object.keys(DEFAULT_LLM_ENGINE_PROFILE).join(', ')})`);
  }
  return r.data;
}

async function runLlmServer(flags: LlmServerFlags): Promise<void> {
  const port = parseNumber('--port', flags.port, 0, 65535, true);
  if (flags.weights !== undefined && !existsSync(flags.weights)) throw new UserError('FILE_NOT_FOUND', `--weights: ${flags.weights} does not exist`);
  const server = new LlmSimServer({
    model: flags.model,
    profile: parseProfile(flags.profile),
    timeScale: parseNumber('--time-scale', flags.timeScale, 0.001, 1000),
    loadSeconds: parseNumber('--load-seconds', flags.loadSeconds, 0, 3600),
    ...(flags.weights !== undefined ? { weightsPath: flags.weights } : {}),
    maxTokensDefault: parseNumber('--max-tokens', flags.maxTokens, 1, 32768, true),
  });
  const drainMs = parseNumber('--drain-seconds', flags.drainSeconds, 0, 3600) * 1000;
  const address = await server.app.listen({ port, host: flags.host });
  process.stdout.write(`listening on ${address}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('draining\n');
    void server.drain(drainMs).then(() => { process.stdout.write('stopped\n'); process.exit(0); });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await server.load();
  process.stdout.write(`ready: weights ${server.startup.weightsBytes} bytes in ${server.startup.weightsSeconds.toFixed(3)} s, init ${server.startup.initSeconds.toFixed(3)} s\n`);
  await new Promise<never>(() => { /* runs until a signal */ });
}

export function registerLlmServer(sim: Command): void {
  sim
    .command('llm-server')
    .description('run a simulated OpenAI-compatible LLM server (prefill/decode timing model, prefix cache, bounded KV cache; no GPU needed)')
    .option('--port <n>', 'port to listen on (0 = any free port; the line "listening on URL" says which)', '8000')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--model <name>', 'model name the server reports', 'sim-llm-8b')
    .option('--profile <json|file>', `timing profile overrides as JSON (fields: ${Object.keys(DEFAULT_LLM_ENGINE_PROFILE).join(', ')})`)
    .option('--time-scale <x>', 'multiply every modelled duration (0.1 = ten times faster)', '1')
    .option('--load-seconds <s>', 'start-up time after the weights are read (model initialisation)', '0')
    .option('--weights <path>', 'a file or folder read in full before the server is ready')
    .option('--max-tokens <n>', 'max_tokens when a request does not say', '16')
    .option('--drain-seconds <s>', 'on SIGTERM, how long open requests may take to finish', '30')
    .action(async (flags: LlmServerFlags) => runLlmServer(flags));
}
