/**
 * The activation profile as one self-contained HTML page: inline SVG plots drawn with Vega (as
 * src/train/plot.ts does; Vega renders SVG in Node without native dependencies) and the tables.
 */
import { writeFileAtomic } from '../formats/safetensors/index.js';
import { frequencyCdf, formatProfile, type ActivationProfile } from './profile.js';

async function svgOf(spec: object): Promise<string> {
  const vega = await import('vega');
  const view = new vega.View(vega.parse({ $schema: 'https://vega.github.io/schema/vega/v5.json', padding: 10, ...spec } as never), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Bars: mean inactive share per layer; a rule from p10 to p90 on each bar. */
export function sparsitySpec(p: ActivationProfile): object {
  const values = p.layers.map((l) => ({ layer: String(l.layer), mean: l.inactive.mean, p10: l.inactive.p10, p90: l.inactive.p90 }));
  return {
    width: 420,
    height: 260,
    title: { text: 'FFN sparsity per layer (share of inactive neurons per token)' },
    data: [{ name: 'd', values }],
    scales: [
      { name: 'x', type: 'band', domain: { data: 'd', field: 'layer' }, range: 'width', padding: 0.2 },
      { name: 'y', type: 'linear', domain: [0, 1], range: 'height' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'layer' },
      { orient: 'left', scale: 'y', title: 'inactive share (bar = mean, line = p10..p90)', format: '.0%' },
    ],
    marks: [
      {
        type: 'rect', from: { data: 'd' },
        encode: { enter: { x: { scale: 'x', field: 'layer' }, width: { scale: 'x', band: 1 }, y: { scale: 'y', field: 'mean' }, y2: { scale: 'y', value: 0 }, fill: { value: '#4c78a8' } } },
      },
      {
        type: 'rule', from: { data: 'd' },
        encode: { enter: { x: { scale: 'x', field: 'layer', band: 0.75 }, y: { scale: 'y', field: 'p10' }, y2: { scale: 'y', field: 'p90' }, stroke: { value: '#e45756' }, strokeWidth: { value: 2 } } },
      },
      {
        type: 'text', from: { data: 'd' },
        encode: { enter: { x: { scale: 'x', field: 'layer', band: 0.5 }, y: { scale: 'y', field: 'mean', offset: 16 }, align: { value: 'center' }, text: { signal: "format(datum.mean, '.1%')" }, fill: { value: 'white' }, fontSize: { value: 10 } } },
      },
    ],
  };
}

/** Lines: per layer, share of activations held by the hottest x share of neurons. */
export function cdfSpec(p: ActivationProfile): object {
  const values = p.layers.flatMap((l) => frequencyCdf(l.counts).map((q) => ({ ...q, layer: `layer ${l.layer}` })));
  return {
    width: 420,
    height: 260,
    title: { text: 'Neuron-frequency CDF (neurons sorted hottest first)' },
    data: [{ name: 'd', values }],
    scales: [
      { name: 'x', type: 'linear', domain: [0, 1], range: 'width' },
      { name: 'y', type: 'linear', domain: [0, 1], range: 'height' },
      { name: 'color', type: 'ordinal', domain: { data: 'd', field: 'layer' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'share of neurons', format: '.0%' },
      { orient: 'left', scale: 'y', title: 'share of all activations', format: '.0%' },
    ],
    legends: [{ stroke: 'color', orient: 'bottom-right' }],
    marks: [{
      type: 'group',
      from: { facet: { name: 's', data: 'd', groupby: 'layer' } },
      marks: [{
        type: 'line', from: { data: 's' },
        encode: { enter: { x: { scale: 'x', field: 'neurons' }, y: { scale: 'y', field: 'activations' }, stroke: { scale: 'color', field: 'layer' }, strokeWidth: { value: 1.5 } } },
      }],
    }],
  };
}

/** Line: perplexity against the share of neurons kept (top-k table). */
export function topkSpec(p: ActivationProfile): object {
  return {
    width: 420,
    height: 260,
    title: { text: 'Top-k: perplexity keeping the k% largest |h| per token' },
    data: [{ name: 'd', values: p.topk }],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'd', field: 'k' }, range: 'width', zero: false, nice: true },
      { name: 'y', type: 'linear', domain: { data: 'd', field: 'ppl' }, range: 'height', zero: false, nice: true },
    ],
    axes: [{ orient: 'bottom', scale: 'x', title: 'k (% of neurons kept)' }, { orient: 'left', scale: 'y', title: 'perplexity' }],
    marks: [
      { type: 'line', from: { data: 'd' }, encode: { enter: { x: { scale: 'x', field: 'k' }, y: { scale: 'y', field: 'ppl' }, stroke: { value: '#4c78a8' } } } },
      { type: 'symbol', from: { data: 'd' }, encode: { enter: { x: { scale: 'x', field: 'k' }, y: { scale: 'y', field: 'ppl' }, fill: { value: '#4c78a8' } } } },
    ],
  };
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Renders the report page (HTML string with inline SVG). */
export async function renderProfileReport(p: ActivationProfile): Promise<string> {
  const plots = [await svgOf(sparsitySpec(p)), await svgOf(cdfSpec(p))];
  if (p.topk.length > 1) plots.push(await svgOf(topkSpec(p)));
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>relufy activation profile</title>',
    '<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:0 1em 1em 0}pre{background:#f6f6f6;padding:1em}</style>',
    '</head><body>',
    `<h1>Activation profile</h1><p>model <code>${esc(p.model)}</code><br>corpus <code>${esc(p.corpus)}</code>, ${p.tokens} tokens, ` +
      `activation ${esc(p.activation)} (active = ${esc(p.activeRule)}), hidden ${p.hidden_size}, FFN ${p.intermediate_size}</p>`,
    ...plots.map((s) => `<figure>${s}</figure>`),
    `<pre>${esc(formatProfile(p))}</pre>`,
    '</body></html>',
    '',
  ].join('\n');
}

/** Writes the report page atomically. */
export async function writeProfileReport(path: string, p: ActivationProfile): Promise<void> {
  writeFileAtomic(path, [Buffer.from(await renderProfileReport(p), 'utf8')]);
}
