/**
 * Charts in the browser with Vega-Lite (the grammar the stack's server-side reports use, runtime/src/charts.ts) and
 * Vega's SVG renderer. Loaded only by the pages that draw (a dynamic import: the first load stays small). Under the
 * console's Content-Security-Policy (no 'unsafe-eval'), Vega's expressions run in vega-interpreter, not as generated
 * code.
 */
import { parse, View } from 'vega';
import { expressionInterpreter } from 'vega-interpreter';
import { compile, type TopLevelSpec } from 'vega-lite';

export type { TopLevelSpec as ChartSpec } from 'vega-lite';

/** The look of the server-side charts: sans-serif, light grid, titles that say what and in which unit. */
const CONFIG = {
  font: 'system-ui, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/** Draw `spec` (data inline) into `el` as SVG; the returned function releases the view. */
export async function drawChart(el: HTMLElement, spec: TopLevelSpec): Promise<() => void> {
  const compiled = compile({ ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec).spec;
  const view = new View(parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter,
    renderer: 'svg',
    container: el,
    hover: false,
  });
  await view.runAsync();
  return () => view.finalize();
}
