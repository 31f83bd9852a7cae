// The live page: server-sent events from /events (a "history" of per-second samples once,
// then a "sample" and a "snapshot" every second) drive three uPlot charts and the tables.
// Read-only: the page never sends anything but the GET of the stream.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

interface Counters { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number }
interface Rates { cps: number; inpps: number; outpps: number; inbps: number; outbps: number }
interface DestView {
  addr: string; port: number; fwd: string; weight: number; active: number; inactive: number; persistent: number;
  health: '' | 'up' | 'down'; stats: Counters; rates: Rates;
}
interface ServiceView { name: string; scheduler: string; persistent: number; stats: Counters; rates: Rates; dests: DestView[] }
interface Snapshot {
  time: number; version: string; conns: number; maxConns: number; packets: number; drops: Record<string, number>;
  services: ServiceView[];
  vrrp: Array<{ name: string; state: string; priority: number; master: string; transitions: number }>;
}
interface Sample { t: number; cps: number; inpps: number; outpps: number; inbps: number; outbps: number; active: number; inactive: number; drops: number }

/** Ten minutes of one-second samples, as the server keeps. */
const KEEP = 600;
const samples: Sample[] = [];

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;

function num(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function cell(text: string, cls = '', field = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  if (field) td.dataset.field = field;
  return td;
}

function chart(el: HTMLElement, series: Array<{ label: string; stroke: string }>): uPlot {
  const opts: uPlot.Options = {
    width: Math.max(200, el.clientWidth || 360),
    height: 170,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{}, { size: 56, values: (_u, vals) => vals.map((v) => num(v)) }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, points: { show: false } }))],
  };
  const data: uPlot.AlignedData = [[], ...series.map(() => [])];
  return new uPlot(opts, data, el);
}

const charts = {
  pps: chart($('chart-pps'), [{ label: 'in', stroke: '#2d6cdf' }, { label: 'out', stroke: '#1a7f37' }]),
  conns: chart($('chart-conns'), [
    { label: 'active', stroke: '#2d6cdf' }, { label: 'inactive', stroke: '#8a94a6' }, { label: 'new/s', stroke: '#e07b00' },
  ]),
  drops: chart($('chart-drops'), [{ label: 'drops/s', stroke: '#c62828' }]),
};

function redrawCharts(): void {
  const t = samples.map((s) => s.t / 1000);
  charts.pps.setData([t, samples.map((s) => s.inpps), samples.map((s) => s.outpps)]);
  charts.conns.setData([t, samples.map((s) => s.active), samples.map((s) => s.inactive), samples.map((s) => s.cps)]);
  charts.drops.setData([t, samples.map((s) => s.drops)]);
  (document.querySelector('.charts') as HTMLElement).dataset.samples = String(samples.length);
  const last = samples[samples.length - 1];
  if (last) {
    $('card-cps').textContent = num(last.cps);
    $('card-pps').textContent = `${num(last.inpps)} · ${num(last.outpps)}`;
    $('card-bps').textContent = `${num(last.inbps * 8)} · ${num(last.outbps * 8)}`;
    $('card-drops').textContent = num(last.drops);
  }
}

function counterCells(tr: HTMLTableRowElement, s: Counters, r: Rates): void {
  tr.append(
    cell(String(s.conns), '', 'conns'), cell(String(s.inpkts), '', 'inpkts'), cell(String(s.outpkts), '', 'outpkts'),
    cell(num(s.inbytes), '', 'inbytes'), cell(num(s.outbytes), '', 'outbytes'),
    cell(num(r.cps), '', 'cps'), cell(num(r.inpps), '', 'inpps'), cell(num(r.outpps), '', 'outpps'),
  );
}

function renderServices(snap: Snapshot): void {
  const body = document.createElement('tbody');
  for (const svc of snap.services) {
    const tr = body.insertRow();
    tr.className = 'service';
    tr.dataset.service = svc.name;
    const active = svc.dests.reduce((a, d) => a + d.active, 0);
    const inactive = svc.dests.reduce((a, d) => a + d.inactive, 0);
    tr.append(cell(`${svc.name} ${svc.scheduler}${svc.persistent ? ` persistent ${svc.persistent}` : ''}`), cell(''), cell(''),
      cell(String(active), '', 'active'), cell(String(inactive), '', 'inactive'), cell(''));
    counterCells(tr, svc.stats, svc.rates);
    for (const d of svc.dests) {
      const dr = body.insertRow();
      dr.className = 'dest';
      dr.dataset.dest = `${svc.name} ${d.addr}:${d.port}`;
      dr.append(cell(`→ ${d.addr}:${d.port}`), cell(d.fwd), cell(String(d.weight), '', 'weight'),
        cell(String(d.active), '', 'active'), cell(String(d.inactive), '', 'inactive'),
        cell(d.health === '' ? '–' : d.health, d.health, 'health'));
      counterCells(dr, d.stats, d.rates);
    }
  }
  $('services').querySelector('tbody')?.replaceWith(body);
  $('no-services').hidden = snap.services.length > 0;
}

function renderSnapshot(snap: Snapshot): void {
  $('version').textContent = `version ${snap.version}`;
  $('card-conns').textContent = num(snap.conns);
  $('card-conns-max').textContent = `of ${num(snap.maxConns)}`;
  renderServices(snap);

  const vb = document.createElement('tbody');
  for (const v of snap.vrrp) {
    const tr = vb.insertRow();
    tr.dataset.instance = v.name;
    tr.append(cell(v.name), cell(v.state, `state-${v.state}`, 'state'), cell(String(v.priority)), cell(v.master || '–'),
      cell(String(v.transitions)));
  }
  $('vrrp').querySelector('tbody')?.replaceWith(vb);
  $('no-vrrp').hidden = snap.vrrp.length > 0;

  const db = document.createElement('tbody');
  const drops = Object.entries(snap.drops).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  for (const [reason, n] of drops) {
    const tr = db.insertRow();
    tr.dataset.reason = reason;
    tr.append(cell(reason), cell(String(n)));
  }
  $('drops').querySelector('tbody')?.replaceWith(db);
  $('no-drops').hidden = drops.length > 0;
}

function connect(): void {
  const es = new EventSource('/events');
  const status = $('status');
  es.addEventListener('open', () => {
    status.textContent = 'live';
    status.className = 'status live';
  });
  es.addEventListener('error', () => {
    status.textContent = 'connection lost, retrying…';
    status.className = 'status lost';
  });
  es.addEventListener('history', (e) => {
    samples.length = 0;
    samples.push(...(JSON.parse((e as MessageEvent<string>).data) as Sample[]).slice(-KEEP));
    redrawCharts();
  });
  es.addEventListener('sample', (e) => {
    samples.push(JSON.parse((e as MessageEvent<string>).data) as Sample);
    if (samples.length > KEEP) samples.shift();
    redrawCharts();
  });
  es.addEventListener('snapshot', (e) => renderSnapshot(JSON.parse((e as MessageEvent<string>).data) as Snapshot));
}

window.addEventListener('resize', () => {
  for (const [id, c] of [['chart-pps', charts.pps], ['chart-conns', charts.conns], ['chart-drops', charts.drops]] as const) {
    c.setSize({ width: Math.max(200, $(id).clientWidth), height: 170 });
  }
});
connect();
