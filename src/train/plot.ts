import { writeFileAtomic } from '../formats/safetensors/index.js';

/** One point of a curve for `plotCurves`. */
export interface CurvePoint {
  step: number;
  value: number;
  series: string;
}

/**
 * Draws training curves (loss panel and FFN-sparsity panel, x = optimizer step) with Vega and
 * writes them as an SVG file. Vega renders SVG in Node without native dependencies.
 */
export async function plotCurves(path: string, loss: CurvePoint[], sparsity: CurvePoint[], title: string): Promise<void> {
  const vega = await import('vega');
  const panel = (name: string, data: CurvePoint[], yTitle: string, y0: number): object => ({
    type: 'group',
    encode: { enter: { x: { value: y0 }, width: { value: 420 }, height: { value: 260 } } },
    data: [{ name, values: data }],
    scales: [
      { name: 'x', type: 'linear', domain: { data: name, field: 'step' }, range: [0, 420], nice: true, zero: true },
      { name: 'y', type: 'linear', domain: { data: name, field: 'value' }, range: [260, 0], nice: true, zero: false },
      { name: 'color', type: 'ordinal', domain: { data: name, field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'optimizer step' },
      { orient: 'left', scale: 'y', title: yTitle },
    ],
    legends: [{ fill: 'color', orient: 'top-right' }],
    marks: [{
      type: 'group',
      from: { facet: { name: `${name}_s`, data: name, groupby: 'series' } },
      marks: [{
        type: 'line',
        from: { data: `${name}_s` },
        encode: { enter: { x: { scale: 'x', field: 'step' }, y: { scale: 'y', field: 'value' }, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 1.5 } } },
      }],
    }],
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: 1000,
    height: 300,
    padding: 10,
    title: { text: title },
    marks: [panel('loss', loss, 'loss (nats/token)', 0), panel('sparsity', sparsity, 'FFN sparsity (share of h = 0)', 540)],
  };
  const view = new vega.View(vega.parse(spec as never), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileAtomic(path, [Buffer.from(svg, 'utf8')]);
}
