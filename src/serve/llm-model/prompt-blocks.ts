/**
 * Turns prompt text into token counts and the chained block hashes the prefix cache names blocks
 * by. The simulated server needs no real tokenizer: a token is a word or a punctuation mark
 * (close to a BPE tokenizer's count for English), and block i's hash covers every token up to the
 * end of block i, so two prompts share block i only if they share everything before it.
 */
const TOKEN = /[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** FNV-1a over a string, continuing from `seed`; 32 bits. */
function fnv1a(seed: number, s: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Hashes of the full blocks of `tokens`. Two 32-bit lanes combined into a safe integer keep
 * accidental collisions out of any realistic cache (2^53 space).
 */
export function blockHashes(tokens: readonly string[], blockTokens: number): number[] {
  const out: number[] = [];
  let a = 0x811c9dc5;
  let b = 0x01234567;
  const full = Math.floor(tokens.length / blockTokens) * blockTokens;
  for (let i = 0; i < full; i++) {
    const t = tokens[i]!;
    a = fnv1a(a, t + '\u0000');
    b = fnv1a(b ^ 0x5bd1e995, t + '\u0001');
    if ((i + 1) % blockTokens === 0) out.push((a & 0x1fffff) * 0x100000000 + b);
  }
  return out;
}

/**
 * Block hashes for a prompt known only by its token count, as in a trace: `prefixGroup` names a
 * shared leading part of `sharedTokens` tokens (a system prompt, a conversation so far); the rest
 * is unique to `uniqueKey`.
 */
export function syntheticBlockHashes(promptTokens: number, blockTokens: number, uniqueKey: string, prefixGroup?: string, sharedTokens = 0): number[] {
  const shared = prefixGroup === undefined ? 0 : Math.min(sharedTokens, promptTokens);
  const tokens: string[] = [];
  for (let i = 0; i < promptTokens; i++) tokens.push(i < shared ? `${prefixGroup}#${i}` : `${uniqueKey}#${i}`);
  return blockHashes(tokens, blockTokens);
}
