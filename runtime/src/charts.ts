/**
 * Charts as SVG, rendered on the server with Vega-Lite (the grammar) and Vega (the renderer): a report describes its
 * chart as a Vega-Lite spec with its data inline and gets a standalone SVG back, no browser and no canvas needed.
 * The subpath `@tessera/runtime/charts` keeps vega out of processes that draw nothing.
 */
import type { TopLevelSpec } from 'vega-lite';

export type { TopLevelSpec as ChartSpec } from 'vega-lite';

/** Shared look: white background, sans-serif, titles that say what and in which unit. */
const CONFIG = {
  background: 'white',
  font: 'sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/**
 * Render a Vega-Lite spec (data inline) to a standalone SVG document. Vega's warnings and errors (an empty extent, a
 * field that is not there) make it throw: a report's chart is either right or not written.
 */
export async function renderChartSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const problems: string[] = [];
  const compiled = vegaLite.compile({ ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec, {
    logger: collector(problems),
  }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger: collector(problems) as never });
  try {
    await view.runAsync();
    const svg = await view.toSVG();
    if (problems.length > 0) throw new Error(`the chart did not render cleanly: ${problems.join('; ')}`);
    return svg.startsWith('<?xml') ? svg : `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
  } finally {
    view.finalize();
  }
}

/** A Vega logger that keeps warnings and errors (Vega's own only prints them). */
function collector(into: string[]) {
  let level = 2;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      into.push(args.map(String).join(' '));
      return logger;
    },
    warn(...args: unknown[]) {
      into.push(args.map(String).join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}
