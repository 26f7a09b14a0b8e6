#!/usr/bin/env node
// A training-style job that checkpoints and resumes, following Gantry's checkpoint protocol:
//  - it saves a checkpoint every CHECKPOINT_EVERY steps into $GANTRY_CHECKPOINT_DIR and reports
//    it (a {"checkpoint": true} line in $GANTRY_PROGRESS_FILE), along with step, loss, samples/s;
//  - on SIGUSR1 (Gantry wants the GPU back) it saves at once, acknowledges by creating
//    $GANTRY_CHECKPOINT_ACK_FILE, and exits; Gantry requeues it;
//  - when it starts and finds a checkpoint, it resumes from there.
// No GPU needed: the "model" is a number that converges. Environment knobs: STEPS, STEP_MS,
// CHECKPOINT_EVERY.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.GANTRY_CHECKPOINT_DIR ?? './checkpoints';
const steps = Number(process.env.STEPS ?? 60);
const stepMs = Number(process.env.STEP_MS ?? 50);
const every = Number(process.env.CHECKPOINT_EVERY ?? 10);
const rank = Number(process.env.RANK ?? 0);
const file = join(dir, 'checkpoint.json');
mkdirSync(dir, { recursive: true });

const log = (msg) => console.log(`[rank ${rank}] ${msg}`);
let state = { step: 0, weight: 0 };
if (existsSync(file)) {
  state = JSON.parse(readFileSync(file, 'utf8'));
  log(`resuming from checkpoint at step ${state.step}`);
} else {
  log(`starting fresh: ${steps} steps, GPUs ${process.env.CUDA_VISIBLE_DEVICES || '(none)'}${process.env.GANTRY_GPU_SHARE ? `, share ${process.env.GANTRY_GPU_SHARE}` : ''}`);
}

const loss = () => Math.abs(1 - state.weight) + 0.01;
const report = (extra) => {
  if (process.env.GANTRY_PROGRESS_FILE && rank === 0) appendFileSync(process.env.GANTRY_PROGRESS_FILE, JSON.stringify({ step: state.step, loss: Number(loss().toFixed(4)), samplesPerSec: Math.round(32000 / stepMs), ...extra }) + '\n');
};
const save = () => {
  if (rank !== 0) return;
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file); // atomic: a crash never leaves half a checkpoint
  report({ checkpoint: true });
  log(`checkpoint saved at step ${state.step}`);
};

process.on('SIGUSR1', () => {
  log('preemption signal: saving a checkpoint');
  save();
  if (process.env.GANTRY_CHECKPOINT_ACK_FILE) writeFileSync(process.env.GANTRY_CHECKPOINT_ACK_FILE, String(state.step));
  process.exit(0);
});
process.on('SIGTERM', () => {
  log('stopped');
  process.exit(143);
});

const timer = setInterval(() => {
  state.step++;
  state.weight += (1 - state.weight) * 0.1;
  if (state.step % 5 === 0) {
    report({});
    log(`step ${state.step}/${steps} loss ${loss().toFixed(4)}`);
  }
  if (state.step % every === 0) save();
  if (state.step >= steps) {
    clearInterval(timer);
    if (state.step % every !== 0) save();
    log(`done: final loss ${loss().toFixed(4)}`);
  }
}, stepMs);
