/**
 * Draws the visible part of the fleet on a canvas: only the boxes that cross the viewport, so
 * a fleet of 10,000 GPUs costs what a screenful costs. Each tile fills from the bottom with
 * its holders (a share or MIG slice takes its fraction of the height), coloured by queue or by
 * job; an idle GPU is pale green, the free part of a partly used GPU is hatched (fragmented),
 * an unhealthy GPU is crossed out in red.
 */
import { colourOf } from '../format.js';
import { HEADER, PAD, TILE, tileOrigin, type Layout } from './layout.js';
import { idleReserved, tileState, type FleetNode, type Segment } from './model.js';

export type ColourBy = 'queue' | 'job';

export interface DrawOptions {
  readonly colourBy: ColourBy;
  readonly selected: { node: number; tile: number } | null;
  /** A search: segments it does not match are drawn faded. */
  readonly match: ((s: Segment) => boolean) | null;
}

export const COLOURS = { idle: '#e3f3e5', idleLine: '#9fd3a6', free: '#fff4e0', hatch: '#f0b45a', other: '#8d94a3', box: '#f7f8fa', boxLine: '#dde1e8', bad: '#c62828', text: '#4a5262' };

let hatch: CanvasPattern | null = null;
function hatchPattern(ctx: CanvasRenderingContext2D): CanvasPattern | string {
  if (hatch) return hatch;
  const c = document.createElement('canvas');
  c.width = c.height = 6;
  const g = c.getContext('2d');
  if (!g) return COLOURS.free;
  g.fillStyle = COLOURS.free;
  g.fillRect(0, 0, 6, 6);
  g.strokeStyle = COLOURS.hatch;
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(0, 6);
  g.lineTo(6, 0);
  g.stroke();
  hatch = ctx.createPattern(c, 'repeat');
  return hatch ?? COLOURS.free;
}

export function segmentColour(s: Segment, by: ColourBy): string {
  if (s.job === '') return COLOURS.other;
  return colourOf(by === 'queue' ? (s.queue ?? s.job) : s.job);
}

export function drawFleet(ctx: CanvasRenderingContext2D, layout: Layout, fleet: readonly FleetNode[], top: number, height: number, o: DrawOptions): number {
  const t0 = performance.now();
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.save();
  ctx.translate(0, -top);
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (const b of layout.boxes) {
    if (b.y + b.h < top || b.y > top + height) continue;
    const n = fleet[b.node];
    if (!n) continue;
    ctx.fillStyle = COLOURS.box;
    ctx.strokeStyle = COLOURS.boxLine;
    ctx.fillRect(b.x, b.y, b.w, b.h);
    ctx.strokeRect(b.x + 0.5, b.y + 0.5, b.w - 1, b.h - 1);
    ctx.fillStyle = n.status === 'ready' ? COLOURS.text : COLOURS.bad;
    ctx.fillText(n.status === 'ready' ? n.name : `${n.name} (${n.status})`, b.x + PAD, b.y + HEADER / 2 + 2, b.w - PAD * 2);
    ctx.globalAlpha = n.status === 'ready' ? 1 : 0.45;
    n.tiles.forEach((t, i) => {
      const { x, y } = tileOrigin(b, i);
      const state = tileState(t);
      if (state === 'idle') {
        ctx.fillStyle = COLOURS.idle;
        ctx.fillRect(x, y, TILE, TILE);
        ctx.strokeStyle = COLOURS.idleLine;
        ctx.strokeRect(x + 0.5, y + 0.5, TILE - 1, TILE - 1);
      } else {
        ctx.fillStyle = state === 'fragmented' ? hatchPattern(ctx) : COLOURS.free;
        ctx.fillRect(x, y, TILE, TILE);
        let filled = 0;
        for (const s of t.segments) {
          const h = Math.max(2, Math.round(s.fraction * TILE));
          const y0 = y + TILE - filled - h;
          ctx.globalAlpha = (n.status === 'ready' ? 1 : 0.45) * (o.match && !o.match(s) ? 0.18 : 1);
          ctx.fillStyle = segmentColour(s, o.colourBy);
          ctx.fillRect(x, Math.max(y, y0), TILE, Math.min(h, TILE - filled));
          filled += h;
          if (t.segments.length > 1 || s.mig) {
            ctx.fillStyle = '#ffffff';
            ctx.fillRect(x, Math.max(y, y0), TILE, 1); // a line between holders
          }
        }
        ctx.globalAlpha = n.status === 'ready' ? 1 : 0.45;
      }
      if (idleReserved(t)) {
        // Held but unused: a dashed outline and a "z".
        ctx.strokeStyle = COLOURS.bad;
        ctx.setLineDash([3, 2]);
        ctx.strokeRect(x + 1.5, y + 1.5, TILE - 3, TILE - 3);
        ctx.setLineDash([]);
        ctx.fillStyle = '#ffffff';
        ctx.fillText('z', x + 3, y + 8);
      }
      if (t.migEnabled) {
        ctx.fillStyle = COLOURS.text;
        ctx.fillText('M', x + TILE - 9, y + 7);
      }
      if (state === 'unhealthy') {
        ctx.strokeStyle = COLOURS.bad;
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, y + 1, TILE - 2, TILE - 2);
        ctx.beginPath();
        ctx.moveTo(x + 4, y + 4);
        ctx.lineTo(x + TILE - 4, y + TILE - 4);
        ctx.moveTo(x + TILE - 4, y + 4);
        ctx.lineTo(x + 4, y + TILE - 4);
        ctx.stroke();
        ctx.lineWidth = 1;
      }
      if (o.selected && o.selected.node === b.node && o.selected.tile === i) {
        ctx.strokeStyle = '#1d2330';
        ctx.lineWidth = 3;
        ctx.strokeRect(x - 1.5, y - 1.5, TILE + 3, TILE + 3);
        ctx.lineWidth = 1;
      }
    });
    ctx.globalAlpha = 1;
  }
  ctx.restore();
  return performance.now() - t0;
}
