/** The simulated LLM server as a real process: OpenAI-compatible answers, streaming, health, metrics, drain. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = resolve('bin/gantry.js');
const children: ChildProcess[] = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

async function startServer(args: string[]): Promise<{ url: string; child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [BIN, 'sim', 'llm-server', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!/listening on (\S+)/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: /listening on (\S+)/.exec(out)![1]!, child, out: () => out };
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await fetch(`${url}/health`)).status !== 200) {
    if (Date.now() > deadline) throw new Error('not ready');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const post = (url: string, path: string, body: unknown): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('llm server: loads its weights before it is ready, then answers completions and chat', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-weights-'));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.alloc(3 * 1024 * 1024, 7));
  // 3 s of loading: long enough that the first probe lands inside it on a loaded machine (0.5 s did not at load 30).
  const s = await startServer(['--weights', dir, '--load-seconds', '3', '--model', 'tiny']);
  const early = await fetch(`${s.url}/health`);
  assert.equal(early.status, 503, 'not ready while loading');
  assert.equal(((await early.json()) as { status: string }).status, 'loading');
  assert.equal((await post(s.url, '/v1/completions', { prompt: 'hi' })).status, 503);
  await waitReady(s.url);
  const health = (await (await fetch(`${s.url}/health`)).json()) as { startup: { weightsBytes: number; initSeconds: number } };
  assert.equal(health.startup.weightsBytes, 3 * 1024 * 1024);
  assert.ok(health.startup.initSeconds >= 2.95);

  const c = await post(s.url, '/v1/completions', { model: 'tiny', prompt: 'one two three four', max_tokens: 7, temperature: 0.2 });
  assert.equal(c.status, 200);
  const cj = (await c.json()) as { object: string; choices: Array<{ text: string; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
  assert.equal(cj.object, 'text_completion');
  assert.equal(cj.choices[0]!.text.trim().split(/\s+/).length, 7);
  assert.deepEqual([cj.usage.prompt_tokens, cj.usage.completion_tokens], [4, 7]);

  const chat = (await (await post(s.url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hello' }], max_completion_tokens: 3 })).json()) as { object: string; choices: Array<{ message: { role: string; content: string } }> };
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0]!.message.role, 'assistant');
  assert.equal(chat.choices[0]!.message.content.trim().split(/\s+/).length, 3);
  assert.deepEqual(((await (await fetch(`${s.url}/v1/models`)).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id), ['tiny']);
  s.child.kill('SIGKILL');
});

test('llm server: streams tokens as server-sent events, spaced by the decode time, then [DONE]', async () => {
  const s = await startServer(['--profile', '{"decodeBaseMs":40}']);
  await waitReady(s.url);
  const res = await post(s.url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'stream please' }], max_tokens: 6, stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const arrivals: number[] = [];
  const events: string[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      events.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
      arrivals.push(performance.now());
    }
  }
  assert.equal(events.at(-1), 'data: [DONE]');
  const tokens = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content: string }; finish_reason: string | null }>; usage?: { completion_tokens: number } });
  const withText = tokens.filter((t) => t.choices.length > 0);
  assert.equal(withText.length, 6);
  assert.equal(withText.at(-1)!.choices[0]!.finish_reason, 'length');
  assert.equal(tokens.at(-1)!.usage!.completion_tokens, 6);
  // Tokens arrive one by one over ~5 decode steps of >= 40 ms, not in one burst at the end.
  const spread = arrivals[5]! - arrivals[0]!;
  assert.ok(spread >= 150, `tokens spread over ${spread.toFixed(0)} ms`);
  s.child.kill('SIGKILL');
});

test('llm server: bad requests get 400 in OpenAI\'s error shape and change nothing', async () => {
  const s = await startServer(['--profile', '{"kvCacheTokens":512}']);
  await waitReady(s.url);
  for (const [path, body, param] of [
    ['/v1/completions', { prompt: 5 }, 'prompt'],
    ['/v1/completions', { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    ['/v1/chat/completions', { messages: [] }, 'messages'],
    ['/v1/completions', { prompt: 'x', max_tokens: 600 }, 'max_tokens'],
  ] as const) {
    const r = await post(s.url, path, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const j = (await r.json()) as { error: { message: string; param: string; type: string } };
    assert.equal(j.error.type, 'invalid_request_error');
    assert.equal(j.error.param, param);
  }
  const bad = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
  assert.equal(bad.status, 400);
  assert.ok(((await bad.json()) as { error?: unknown }).error);
  const health = (await (await fetch(`${s.url}/health`)).json()) as { running: number; waiting: number; promptTokens: number };
  assert.deepEqual([health.running, health.waiting, health.promptTokens], [0, 0, 0]);
  s.child.kill('SIGKILL');
});

test('llm server: SIGTERM drains: open streams finish, new requests get 503, then it exits 0', async () => {
  const s = await startServer(['--profile', '{"decodeBaseMs":20}']);
  await waitReady(s.url);
  const open = post(s.url, '/v1/completions', { prompt: 'long answer', max_tokens: 40, stream: true }).then(async (r) => await r.text());
  await new Promise((r) => setTimeout(r, 150));
  const exited = new Promise<number | null>((r) => s.child.once('exit', (code) => r(code)));
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  const refused = await post(s.url, '/v1/completions', { prompt: 'late' }).catch(() => null);
  if (refused) assert.equal(refused.status, 503);
  const text = await open;
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the open stream finished');
  assert.equal(text.split('\n\n').filter((e) => e.startsWith('data: {') && e.includes('"text"')).length, 40);
  assert.equal(await exited, 0);
});

test('llm server: /metrics reports vLLM-named series including prefix cache hits', async () => {
  const s = await startServer([]);
  await waitReady(s.url);
  const system = 'You are a helpful assistant that answers briefly and precisely. '.repeat(12);
  for (const q of ['first question', 'second question', 'third question']) {
    assert.equal((await post(s.url, '/v1/completions', { prompt: `${system} ${q}`, max_tokens: 2 })).status, 200);
  }
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
  assert.ok(value('vllm:prefix_cache_queries_total') > 0);
  assert.ok(value('vllm:prefix_cache_hits_total') >= value('vllm:prefix_cache_queries_total') * 0.5, 'the shared system prompt hits after the first request');
  assert.equal(value('vllm:time_to_first_token_seconds_count'), 3);
  assert.equal(value('vllm:generation_tokens_total'), 6);
  assert.match(text, /vllm:num_requests_running\{model_name="sim-llm-8b"\} 0/);
  s.child.kill('SIGKILL');
});
