#!/usr/bin/env node
// A two-worker (gang) job: every worker reads the torch.distributed-style environment Gantry
// sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and they sum their ranks over TCP, as an
// all-reduce would: rank 0 listens on MASTER_PORT, the others connect and send their value.
import { createServer, connect } from 'node:net';

const rank = Number(process.env.RANK);
const world = Number(process.env.WORLD_SIZE);
const host = process.env.MASTER_ADDR;
const port = Number(process.env.MASTER_PORT);
console.log(`rank ${rank}/${world} on ${process.env.GANTRY_NODE}, GPUs ${process.env.CUDA_VISIBLE_DEVICES}, master ${host}:${port}`);

if (rank === 0) {
  let sum = 0;
  let seen = 1;
  const server = createServer((sock) => {
    sock.on('data', (d) => {
      sum += Number(String(d).trim());
      seen++;
      if (seen === world) {
        console.log(`all-reduce: sum of ranks = ${sum} (expected ${(world * (world - 1)) / 2})`);
        server.close();
      }
      sock.end();
    });
  });
  server.listen(port, host);
} else {
  const tryConnect = (left) => {
    const s = connect(port, host, () => s.end(`${rank}\n`));
    s.on('error', () => (left > 0 ? setTimeout(() => tryConnect(left - 1), 100) : process.exit(1)));
    s.on('close', () => console.log(`rank ${rank}: sent my value`));
  };
  tryConnect(100);
}
