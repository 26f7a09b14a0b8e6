/** Tables for people: markdown for reports, boxed text for terminals, CSV for tools. */
import Table from 'cli-table3';

export type Cell = string | number;

export function markdownTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const line = (cells: readonly Cell[]): string => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

export function terminalTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const t = new Table({ head: [...header], style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map((c) => String(c)));
  return t.toString();
}

export function csv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const esc = (c: Cell): string => {
    const s = String(c);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header.map(esc).join(','), ...rows.map((r) => r.map(esc).join(','))].join('\n') + '\n';
}
