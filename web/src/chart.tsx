/** A uPlot chart as a component: x is time (seconds) unless `xTime` is false; one line per series. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { colourOf } from './format.js';

export interface Series {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly dash?: boolean;
  readonly colour?: string;
}

/** `yLog`: a log y axis, for values spread over decades (latencies of a run that missed its objective). */
export function Chart(props: { x: readonly number[]; series: readonly Series[]; height?: number; xTime?: boolean; yLabel?: string; yLog?: boolean; testid?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${props.series.map((s) => s.label).join('|')}|${props.xTime ?? true}|${props.yLog ?? false}`;
  useEffect(() => {
    const box = el.current;
    if (!box) return;
    const opts: uPlot.Options = {
      width: Math.max(300, box.clientWidth),
      height: props.height ?? 220,
      scales: { x: { time: props.xTime ?? true }, ...(props.yLog ? { y: { distr: 3 } } : {}) },
      axes: [{}, { label: props.yLabel ?? '', size: 60 }],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.colour ?? colourOf(s.label), width: 2, ...(s.dash ? { dash: [6, 4] } : {}) }))],
      legend: { live: false },
    };
    plot.current = new uPlot(opts, [props.x as number[], ...props.series.map((s) => s.values as (number | null)[])], box);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, box.clientWidth), height: props.height ?? 220 }));
    ro.observe(box);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape]);
  useEffect(() => {
    plot.current?.setData([props.x as number[], ...props.series.map((s) => s.values as (number | null)[])]);
  }, [props.x, props.series]);
  return <div ref={el} data-testid={props.testid} />;
}
