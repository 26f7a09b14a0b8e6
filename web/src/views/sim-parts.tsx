/** What the simulator views share: a colour per run told apart at a glance, and a bar scaled to the largest. */

/** Runs side by side need colours told apart at a glance, whatever their names hash to. */
const RUN_COLOURS = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#edc948', '#76b7b2', '#9c755f'];
export const runColour = (i: number): string => RUN_COLOURS[i % RUN_COLOURS.length]!;

export function Bar(props: { value: number; max: number; label: string; warn?: boolean }) {
  const w = props.max > 0 && Number.isFinite(props.value) ? Math.min(100, (props.value / props.max) * 100) : 0;
  return (
    <div class="bar" title={props.label} style="min-width:6rem">
      <span class={props.warn ? 'over' : ''} style={`width:${w}%`} />
    </div>
  );
}
