// What two heap snapshots differ by, per kind of object: plain objects told apart by their first
// property names (a job record, a slim pod, a binding ...), strings, heap numbers, arrays' backing
// stores, map tables. Bytes are the objects' own sizes. With the snapshots offline-heap.mjs writes
// (SNAP=<file>: <file>.0 before the pods, <file> after):
//   node bench/k8s/heap-diff.mjs <file>.0 <file> [pods=4000] [rows=30]
import { readFileSync } from 'node:fs';

const [before, after, perArg, rowsArg] = process.argv.slice(2);
const PER = Number(perArg ?? 4000);
const ROWS = Number(rowsArg ?? 30);

function kinds(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const meta = s.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((k) => meta.node_fields.indexOf(k));
  const [eType, eName] = ['type', 'name_or_index'].map((k) => meta.edge_fields.indexOf(k));
  const out = new Map();
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    const type = types[s.nodes[i + iType]];
    const edges = s.nodes[i + iEdges];
    let key;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = '(strings)';
    else if (type === 'number') key = '(heap numbers)';
    else if (type === 'object') {
      const props = [];
      for (let e = edge; e < edge + edges * ef && props.length < 4; e += ef) {
        if (edgeTypes[s.edges[e + eType]] === 'property') props.push(s.strings[s.edges[e + eName]]);
      }
      key = `${s.strings[s.nodes[i + iName]]}{${props.join(',')}}`;
    } else key = `${type}:${s.strings[s.nodes[i + iName]]}`.slice(0, 60);
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[i + iSize];
    out.set(key, g);
    edge += edges * ef;
  }
  return out;
}

const a = kinds(before);
const b = kinds(after);
const rows = [];
for (const [k, g] of b) {
  const o = a.get(k) ?? { count: 0, bytes: 0 };
  rows.push({ kind: k, count: g.count - o.count, bytes: g.bytes - o.bytes });
}
for (const [k, o] of a) if (!b.has(k)) rows.push({ kind: k, count: -o.count, bytes: -o.bytes });
rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
const total = rows.reduce((t, r) => t + r.bytes, 0);
console.log(`total ${total} bytes, ${(total / PER).toFixed(0)} per pod (${PER} pods)`);
for (const r of rows.slice(0, ROWS)) console.log(`${(r.bytes / PER).toFixed(1).padStart(8)} B/pod ${String(r.count).padStart(8)} objects  ${r.kind}`);
