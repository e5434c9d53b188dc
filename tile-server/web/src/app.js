// onemap web client: the one map for planners. Layers by department, identify, search, approval
// check with a drawn red line, violation review, measurement and coordinates (lon/lat and CGCS2000
// Gauss–Krüger). Chinese by default, English by the header toggle. Talks only to the onemap server
// that serves it (relative URLs, so a gateway prefix works).
import * as maplibregl from './maplibre-gl.mjs';

const API = new URL('.', document.baseURI);
const api = (path) => new URL(path, API).href;

// ---------------------------------------------------------------- who is signed in
// The session cookie is HttpOnly (the page never sees it); writes carry the session's CSRF token,
// which /auth/me and /auth/login return.
const session = { user: null, roles: [], csrf: null, accounts: false };
const post = (path, init = {}) => fetch(api(path), {
  ...init,
  method: 'POST',
  headers: { ...(init.headers ?? {}), ...(session.csrf ? { 'x-csrf-token': session.csrf } : {}) },
});

// ---------------------------------------------------------------- i18n
const TEXT = {
  zh: {
    title: '新郑市国土空间“一张图”', search: '搜索', searchPlaceholder: '宗地代码、许可证号、文物名称、地址',
    tabLayers: '图层', tabApproval: '合规审查', tabViolations: '卫片执法', tabMeasure: '测量',
    approvalHint: '在地图上依次点击绘制用地红线，双击结束；或上传红线文件（GeoJSON、Shapefile 压缩包、GeoPackage、FlatGeobuf）。', draw: '绘制红线', clear: '清除',
    upload: '上传红线文件', use: '拟建用途', far: '容积率', density: '建筑密度', height: '建筑高度 (m)', green: '绿地率',
    check: '审查', runViolations: '运行卫片图斑检测', allClasses: '全部判定', adminFilter: '行政区代码',
    measureLine: '量距离', measureArea: '量面积', opacity: '透明度', features: '个要素', noRedLine: '请先绘制或上传红线',
    checking: '审查中…', report: '打印报告', rule: '规则', result: '结果', note: '说明', parcels: '涉及宗地',
    taken: '占用', running: '检测中…', patch: '图斑', cls: '判定', admin: '行政区', area: '面积 m²', reasons: '原因',
    nothingHere: '此处无要素', noResults: '未找到', distance: '距离', areaLabel: '面积', mu: '亩', ha: '公顷',
    zone: '带', lonlat: '经纬度', failed: '失败',
    login: '登录', logout: '退出', user: '用户名', password: '密码', guest: '访客', loginFailed: '登录失败',
    depts: { planning: '规划', land: '国土', construction: '城建', pipes: '管线', registry: '不动产', heritage: '文物', enforcement: '执法' },
  },
  en: {
    title: 'Xinzheng One Map', search: 'Search', searchPlaceholder: 'Parcel id, permit no., heritage site, address',
    tabLayers: 'Layers', tabApproval: 'Approval', tabViolations: 'Violations', tabMeasure: 'Measure',
    approvalHint: 'Click on the map to draw the red line, double-click to finish; or upload a red-line file (GeoJSON, zipped Shapefile, GeoPackage, FlatGeobuf).', draw: 'Draw red line', clear: 'Clear',
    upload: 'Upload red line', use: 'Proposed use', far: 'FAR', density: 'Density', height: 'Height (m)', green: 'Green ratio',
    check: 'Check', runViolations: 'Run change-patch detection', allClasses: 'All classes', adminFilter: 'Admin code',
    measureLine: 'Distance', measureArea: 'Area', opacity: 'Opacity', features: 'features', noRedLine: 'Draw or upload a red line first',
    checking: 'Checking…', report: 'Printable report', rule: 'Rule', result: 'Result', note: 'Note', parcels: 'Parcels taken',
    taken: 'taken', running: 'Running…', patch: 'Patch', cls: 'Class', admin: 'Admin', area: 'Area m²', reasons: 'Reasons',
    nothingHere: 'Nothing here', noResults: 'Nothing found', distance: 'Distance', areaLabel: 'Area', mu: 'mu', ha: 'ha',
    zone: 'zone', lonlat: 'Lon/lat', failed: 'failed',
    login: 'Log in', logout: 'Log out', user: 'User', password: 'Password', guest: 'Guest', loginFailed: 'Login failed',
    depts: { planning: 'Planning', land: 'Land', construction: 'Construction', pipes: 'Pipelines', registry: 'Real estate', heritage: 'Heritage', enforcement: 'Enforcement' },
  },
};
const STATUS = {
  zh: { pass: '通过', fail: '不通过', review: '需会审', skipped: '未检查', not_given: '未提供' },
  en: { pass: 'pass', fail: 'fail', review: 'review', skipped: 'not checked', not_given: 'not given' },
};
// Chinese labels of common fields (survey-standard and onemap names); English shows the field name.
const FIELD_ZH = {
  parcel_id: '宗地代码', owner: '权利人', rights_type: '权利类型', land_use_code: '用地代码', land_use_name: '用地名称',
  registered_area_m2: '登记面积(m²)', address: '坐落', DLBM: '地类编码', DLMC: '地类名称', BSM: '标识码', XZQDM: '行政区代码',
  ZLDWMC: '坐落单位', SJNF: '数据年份', zone_id: '规划单元', far_max: '容积率上限', density_max: '建筑密度上限',
  height_max_m: '限高(m)', green_min: '绿地率下限', plan_name: '规划名称', pipe_id: '管线编号', pipe_kind: '管线类别',
  kind_name: '类别名称', diameter_mm: '管径(mm)', depth_m: '埋深(m)', pressure: '压力级制', material: '材质', built_year: '建设年份',
  site_name: '文物名称', protection_level: '保护级别', zone_type: '区域类型', authority: '主管部门', line_type: '控制线类型',
  name: '名称', code: '编号', permit_no: '许可证号', approved_date: '批准日期', approved_use: '批准用途', applicant: '申请单位',
  JCBH: '监测编号', QSX: '前时相', HSX: '后时相', land_class_before: '变化前地类', land_class_after: '变化后地类',
  status: '判定', reasons: '原因', area_m2: '面积(m²)', conformance: '符合性', current_code: '现状地类', planned_code: '规划地类',
};
const KIND = {
  zh: { planning: '控制性详细规划', landuse: '土地利用现状', pipeline: '地下管线', cadastral: '不动产宗地', heritage: '文物保护区划', approval: '规划许可', control_line: '三区三线', change_patch: '卫片图斑', generic: '分析成果' },
  en: { planning: 'Regulatory plan', landuse: 'Current land use', pipeline: 'Pipelines', cadastral: 'Cadastral parcels', heritage: 'Heritage zones', approval: 'Planning permits', control_line: 'Control lines', change_patch: 'Change patches', generic: 'Analysis result' },
};
let lang = localStorage.getItem('onemap.lang') || 'zh';
const t = (k) => TEXT[lang][k] ?? k;
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const fieldLabel = (f) => (lang === 'zh' && FIELD_ZH[f]) || f;

function applyLanguage() {
  if (document.getElementById('who')) document.getElementById('who').textContent = session.user ?? t('guest');
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.getElementById('lang').textContent = lang === 'zh' ? 'English' : '中文';
  renderLayerPanel();
  if (lastReport) renderApproval(lastReport);
  if (lastJob) renderViolations(lastJob);
}

// ---------------------------------------------------------------- map
const map = new maplibregl.Map({
  container: 'map',
  style: api('styles/onemap.json'),
  attributionControl: { compact: true },
  hash: false,
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
window.onemap = { map, ready: false, errors: [] };

const DEPTS = [
  ['planning', ['planning', 'control_line']], ['land', ['landuse']], ['construction', ['approval', 'generic']],
  ['pipes', ['pipeline']], ['registry', ['cadastral']], ['heritage', ['heritage']], ['enforcement', ['change_patch']],
];
let catalog = [];
const visible = new Set();

function styleLayersOf(name) {
  return (map.getStyle()?.layers ?? []).filter((l) => l.metadata?.['onemap:layer'] === name);
}

function renderLayerPanel() {
  const panel = document.getElementById('tab-layers');
  panel.innerHTML = '';
  for (const [dept, kinds] of DEPTS) {
    const layers = catalog.filter((l) => kinds.includes(l.kind));
    if (!layers.length) continue;
    const box = document.createElement('div');
    box.className = 'dept';
    box.innerHTML = `<h3>${esc(TEXT[lang].depts[dept])}</h3>`;
    for (const l of layers) {
      const row = document.createElement('div');
      row.className = 'layer';
      row.dataset.layer = l.name;
      const legend = styleLayersOf(l.name)[0]?.metadata?.['onemap:legend'] ?? [];
      row.innerHTML = `<label><input type="checkbox" data-testid="toggle-${esc(l.name)}" ${visible.has(l.name) ? 'checked' : ''}>
        <span title="${esc(l.name)}">${esc(KIND[lang][l.kind] ?? l.kind)} <small>${esc(l.name)}</small></span><span class="count">${l.feature_count} ${esc(t('features'))}</span></label>
        <input type="range" min="0" max="100" value="100" title="${esc(t('opacity'))}" data-testid="opacity-${esc(l.name)}">
        <div class="legend">${legend.slice(0, 14).map((e) => `<span><i style="background:${esc(e.color)}"></i>${esc(e.label)}</span>`).join('')}</div>`;
      row.querySelector('input[type=checkbox]').addEventListener('change', (e) => setVisible(l.name, e.target.checked));
      row.querySelector('input[type=range]').addEventListener('input', (e) => setOpacity(l.name, e.target.value / 100));
      box.appendChild(row);
    }
    panel.appendChild(box);
  }
}

function setVisible(name, on) {
  if (on) visible.add(name); else visible.delete(name);
  for (const l of styleLayersOf(name)) map.setLayoutProperty(l.id, 'visibility', on ? 'visible' : 'none');
}

const baseOpacity = new Map();
function setOpacity(name, k) {
  for (const l of styleLayersOf(name)) {
    const prop = { fill: 'fill-opacity', line: 'line-opacity', circle: 'circle-opacity' }[l.type];
    if (!prop) continue;
    if (!baseOpacity.has(l.id)) baseOpacity.set(l.id, typeof l.paint?.[prop] === 'number' ? l.paint[prop] : 1);
    map.setPaintProperty(l.id, prop, baseOpacity.get(l.id) * k);
  }
}

// Overlays drawn by the client: red line being drawn, analysis conflicts, highlights, measurement.
const EMPTY = { type: 'FeatureCollection', features: [] };
function addOverlays() {
  for (const id of ['draw', 'conflicts', 'highlight', 'measure']) map.addSource(id, { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'conflicts-fill', type: 'fill', source: 'conflicts', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': ['match', ['get', 'status'], 'fail', '#e3001b', 'review', '#ff8c00', '#888'], 'fill-opacity': 0.45 } });
  map.addLayer({ id: 'conflicts-line', type: 'line', source: 'conflicts', paint: { 'line-color': '#e3001b', 'line-width': 2 } });
  map.addLayer({ id: 'highlight-line', type: 'line', source: 'highlight', paint: { 'line-color': '#00e5ff', 'line-width': 4 } });
  map.addLayer({ id: 'draw-line', type: 'line', source: 'draw', paint: { 'line-color': '#e3001b', 'line-width': 2.5, 'line-dasharray': [3, 2] } });
  map.addLayer({ id: 'draw-point', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-radius': 4, 'circle-color': '#e3001b' } });
  map.addLayer({ id: 'measure-line', type: 'line', source: 'measure', paint: { 'line-color': '#1d4f7c', 'line-width': 2 } });
  map.addLayer({ id: 'measure-point', type: 'circle', source: 'measure', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-radius': 3, 'circle-color': '#1d4f7c' } });
}

function bboxOf(geometry) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') { b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])]; return; }
    c.forEach(walk);
  };
  if (geometry.type === 'GeometryCollection') geometry.geometries.forEach((g) => walk(g.coordinates)); else walk(geometry.coordinates);
  return b;
}

function highlight(features) {
  window.onemap.highlighted = features;
  map.getSource('highlight').setData({ type: 'FeatureCollection', features });
  const b = features.map((f) => bboxOf(f.geometry)).reduce((a, c) => [Math.min(a[0], c[0]), Math.min(a[1], c[1]), Math.max(a[2], c[2]), Math.max(a[3], c[3])]);
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 80, maxZoom: 17, duration: 600 });
}

// ---------------------------------------------------------------- modes: identify, draw, measure
let mode = 'identify';
let drawing = [];
let measuring = [];
function setMode(m) {
  mode = m;
  map.getCanvas().style.cursor = m === 'identify' ? '' : 'crosshair';
  if (m === 'draw' || m.startsWith('measure')) map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
  document.getElementById('draw').classList.toggle('on', m === 'draw');
  document.getElementById('measure-line').classList.toggle('on', m === 'measure-line');
  document.getElementById('measure-area').classList.toggle('on', m === 'measure-area');
}

function ringOf(points) {
  return [...points, points[0]];
}

function redLine() {
  return drawing.length >= 3 ? { type: 'Polygon', coordinates: [ringOf(drawing)] } : uploaded;
}

function showDrawing() {
  const features = drawing.map((p) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: p }, properties: {} }));
  if (drawing.length >= 2) features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: mode === 'draw' ? drawing : ringOf(drawing) }, properties: {} });
  map.getSource('draw').setData({ type: 'FeatureCollection', features });
}

async function identify(e) {
  const names = [...visible].join(',');
  if (!names) return;
  const tolerance = Math.min(1000, 3 * metresPerPixel(e.lngLat.lat));
  const r = await fetch(api(`query/identify?lon=${e.lngLat.lng}&lat=${e.lngLat.lat}&tolerance=${tolerance.toFixed(2)}&layers=${encodeURIComponent(names)}`));
  const doc = await r.json();
  let html = '';
  for (const l of doc.layers ?? []) {
    for (const f of l.features.slice(0, 5)) {
      html += `<h4>${esc(KIND[lang][l.kind] ?? l.layer)} · ${esc(l.layer)} #${esc(f.id)}</h4><table>` +
        Object.entries(f.properties).filter(([k]) => !k.startsWith('_')).map(([k, v]) => `<tr><td>${esc(fieldLabel(k))}</td><td>${esc(v)}</td></tr>`).join('') + '</table>';
    }
  }
  new maplibregl.Popup({ maxWidth: '360px' }).setLngLat(e.lngLat)
    .setHTML(`<div class="popup" data-testid="popup">${html || esc(t('nothingHere'))}</div>`).addTo(map);
}

function metresPerPixel(lat) {
  return 40075016.686 * Math.cos(lat * Math.PI / 180) / (512 * 2 ** map.getZoom());
}

map.on('click', (e) => {
  if (mode === 'identify') { identify(e).catch(reportError); return; }
  const p = [e.lngLat.lng, e.lngLat.lat];
  const points = mode === 'draw' ? drawing : measuring;
  // The two clicks of a double-click (which ends drawing) add one vertex, not two.
  const last = points[points.length - 1];
  if (last) {
    const a = map.project(last);
    if (Math.hypot(a.x - e.point.x, a.y - e.point.y) < 4) return;
  }
  points.push(p);
  if (mode === 'draw') showDrawing(); else showMeasure();
});
map.on('dblclick', (e) => {
  if (mode === 'draw') { e.preventDefault(); setMode('identify'); showDrawing(); }
  else if (mode.startsWith('measure')) { e.preventDefault(); setMode('identify'); }
});

// ---------------------------------------------------------------- coordinates (lon/lat and GK)
// Gauss–Krüger on CGCS2000 (GRS80), 3° zones, Krüger series to n⁴ (sub-mm within a zone).
function gaussKruger(lon, lat) {
  const zone = Math.round(lon / 3);
  const lon0 = zone * 3;
  const a = 6378137, f = 1 / 298.257222101, n = f / (2 - f);
  const A = a / (1 + n) * (1 + n * n / 4 + n ** 4 / 64);
  const al = [n / 2 - 2 * n * n / 3 + 5 * n ** 3 / 16 + 41 * n ** 4 / 180, 13 * n * n / 48 - 3 * n ** 3 / 5 + 557 * n ** 4 / 1440, 61 * n ** 3 / 240 - 103 * n ** 4 / 140, 49561 * n ** 4 / 161280];
  const phi = lat * Math.PI / 180, dl = (lon - lon0) * Math.PI / 180;
  const e = Math.sqrt(f * (2 - f));
  const tt = Math.sinh(Math.atanh(Math.sin(phi)) - e * Math.atanh(e * Math.sin(phi)));
  const xi = Math.atan2(tt, Math.cos(dl)), eta = Math.atanh(Math.sin(dl) / Math.sqrt(1 + tt * tt));
  let x = xi, y = eta;
  for (let j = 1; j <= 4; j++) { x += al[j - 1] * Math.sin(2 * j * xi) * Math.cosh(2 * j * eta); y += al[j - 1] * Math.cos(2 * j * xi) * Math.sinh(2 * j * eta); }
  return { zone, lon0, northing: A * x, easting: 500000 + A * y };
}
map.on('mousemove', (e) => {
  const { lng, lat } = e.lngLat;
  const g = gaussKruger(lng, lat);
  document.getElementById('coords').textContent =
    `${t('lonlat')} ${lng.toFixed(6)}, ${lat.toFixed(6)}  |  CGCS2000 3° GK ${t('zone')} ${g.zone} (${g.lon0}°E): X ${g.northing.toFixed(2)}  Y ${g.easting.toFixed(2)}`;
});

// ---------------------------------------------------------------- measurement (sphere, R = 6371008.8 m)
const R = 6371008.8;
const rad = (d) => d * Math.PI / 180;
function distance(a, b) {
  const dphi = rad(b[1] - a[1]), dl = rad(b[0] - a[0]);
  const h = Math.sin(dphi / 2) ** 2 + Math.cos(rad(a[1])) * Math.cos(rad(b[1])) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}
function area(points) {
  let s = 0;
  for (let i = 0; i < points.length; i++) {
    const [p, q] = [points[i], points[(i + 1) % points.length]];
    s += rad(q[0] - p[0]) * (2 + Math.sin(rad(p[1])) + Math.sin(rad(q[1])));
  }
  return Math.abs(s * R * R / 2);
}
function showMeasure() {
  const features = measuring.map((p) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: p }, properties: {} }));
  const isArea = mode === 'measure-area' || (mode === 'identify' && measuring.length > 2 && lastMeasure === 'area');
  if (measuring.length >= 2) features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: isArea ? ringOf(measuring) : measuring }, properties: {} });
  map.getSource('measure').setData({ type: 'FeatureCollection', features });
  window.onemap.measuring = measuring;
  const out = document.getElementById('measure-result');
  if (isArea && measuring.length >= 3) {
    const a = area(measuring);
    out.textContent = `${t('areaLabel')}: ${a.toFixed(1)} m² = ${(a / 666.6667).toFixed(3)} ${t('mu')} = ${(a / 10000).toFixed(4)} ${t('ha')}`;
  } else if (measuring.length >= 2) {
    let d = 0;
    for (let i = 1; i < measuring.length; i++) d += distance(measuring[i - 1], measuring[i]);
    out.textContent = `${t('distance')}: ${d >= 1000 ? (d / 1000).toFixed(3) + ' km' : d.toFixed(2) + ' m'}`;
  }
}
let lastMeasure = 'line';
document.getElementById('measure-line').onclick = () => { measuring = []; lastMeasure = 'line'; setMode('measure-line'); showMeasure(); };
document.getElementById('measure-area').onclick = () => { measuring = []; lastMeasure = 'area'; setMode('measure-area'); showMeasure(); };
document.getElementById('measure-clear').onclick = () => { measuring = []; setMode('identify'); showMeasure(); document.getElementById('measure-result').textContent = ''; };

// ---------------------------------------------------------------- search
document.getElementById('search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  if (!q) return;
  const fields = { cadastral: ['parcel_id', 'address'], approval: ['permit_no'], heritage: ['site_name'], change_patch: ['JCBH'], planning: ['zone_id'] };
  const tries = [];
  const numeric = /^-?\d+(\.\d+)?$/.test(q);
  for (const l of catalog) {
    // Only fields the layer has, and numbers only for numeric fields (a 400 helps nobody).
    const schema = new Map((l.schema ?? []).map((f) => [f.name, f.type]));
    for (const f of (fields[l.kind] ?? []).filter((f) => schema.has(f) && (schema.get(f) === 'text' || numeric))) {
      tries.push(fetch(api(`collections/${encodeURIComponent(l.name)}/items?${encodeURIComponent(f)}=${encodeURIComponent(q)}&limit=10`))
        .then((r) => (r.ok ? r.json() : { features: [] })).then((d) => d.features.map((x) => ({ ...x, layer: l.name }))).catch(() => []));
    }
  }
  const found = (await Promise.all(tries)).flat();
  if (!found.length) { toast(t('noResults')); return; }
  for (const f of found) if (!visible.has(f.layer)) { setVisible(f.layer, true); renderLayerPanel(); }
  highlight(found);
  toast(`${found.length}: ${found.slice(0, 3).map((f) => `${f.layer} #${f.id}`).join(', ')}`);
});

function toast(text) {
  document.getElementById('coords').textContent = text;
}

// ---------------------------------------------------------------- approval check
let uploaded = null;
let lastReport = null;
document.getElementById('draw').onclick = () => { drawing = []; uploaded = null; setMode('draw'); showDrawing(); };
document.getElementById('draw-clear').onclick = () => {
  drawing = []; uploaded = null; setMode('identify'); showDrawing();
  map.getSource('conflicts').setData(EMPTY); document.getElementById('approval-result').innerHTML = ''; lastReport = null;
};
document.getElementById('upload').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    const ext = file.name.split('.').pop().toLowerCase();
    if (['geojson', 'json'].includes(ext)) {
      const gj = JSON.parse(await file.text());
      uploaded = gj.type === 'FeatureCollection' ? { type: 'GeometryCollection', geometries: gj.features.map((f) => f.geometry) } : gj.type === 'Feature' ? gj.geometry : gj;
    } else {
      // A zipped Shapefile, GeoPackage, FlatGeobuf or CSV: the server's importers read it.
      const r = await post(`analysis/redline?format=${encodeURIComponent(ext)}`, { body: file });
      const doc = await r.json();
      if (!r.ok) { document.getElementById('approval-result').innerHTML = `<p class="error">${esc(doc.message)}</p>`; return; }
      uploaded = doc.geometry;
    }
    drawing = [];
    map.getSource('draw').setData({ type: 'Feature', geometry: uploaded, properties: {} });
    highlight([{ type: 'Feature', geometry: uploaded, properties: {} }]);
  } catch (err) { reportError(err); }
});

let lastProposal = null;
document.getElementById('proposal').addEventListener('submit', async (e) => {
  e.preventDefault();
  const geometry = redLine();
  const out = document.getElementById('approval-result');
  if (!geometry) { out.textContent = t('noRedLine'); return; }
  const form = new FormData(e.target);
  const proposal = {};
  for (const [k, v] of form.entries()) if (v !== '') proposal[k] = k === 'use' ? v : Number(v);
  lastProposal = { geometry, proposal };
  out.textContent = t('checking');
  const r = await post('analysis/approval', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(lastProposal) });
  const doc = await r.json();
  if (!r.ok) { out.innerHTML = `<p class="error">${esc(doc.message)}</p>`; return; }
  lastReport = doc;
  renderApproval(doc);
  const conflicts = doc.results.filter((x) => x.status === 'fail' || x.status === 'review')
    .flatMap((x) => x.features.map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { rule: x.id, status: f.status } })));
  map.getSource('conflicts').setData({ type: 'FeatureCollection', features: conflicts });
});

function renderApproval(doc) {
  const out = document.getElementById('approval-result');
  const st = (s) => `<span class="status-${esc(s)}">${esc(STATUS[lang][s] ?? s)}</span>`;
  out.innerHTML = `<div class="verdict status-${esc(doc.conclusion)}" data-testid="conclusion">${st(doc.conclusion)} · ${doc.site.area_m2.toFixed(1)} m² (${doc.site.area_mu.toFixed(2)} ${esc(t('mu'))})</div>
    <table><tr><th>${esc(t('rule'))}</th><th>${esc(t('result'))}</th><th>${esc(t('note'))}</th></tr>
    ${doc.results.map((x) => `<tr data-rule="${esc(x.id)}" data-status="${esc(x.status)}"><td>${esc(lang === 'zh' ? x.name : x.name_en ?? x.name)}</td><td>${st(x.status)}</td><td>${esc(x.message)}</td></tr>`).join('')}
    </table>
    <h4>${esc(t('parcels'))} (${doc.parcels.length}, ${doc.parcels_taken_m2.toFixed(1)} m²)</h4>
    <table>${doc.parcels.slice(0, 50).map((p) => `<tr><td>${esc(p.attributes.parcel_id ?? p.fid)}</td><td>${esc(t('taken'))} ${p.taken_m2.toFixed(1)} m²</td></tr>`).join('')}</table>
    <p><button type="button" id="report" data-testid="report">${esc(t('report'))}</button></p>`;
  document.getElementById('report').onclick = async () => {
    const r = await post('analysis/approval?format=html', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(lastProposal) });
    window.open(URL.createObjectURL(await r.blob()), '_blank');
  };
}

// ---------------------------------------------------------------- violation review
let lastJob = null;
document.getElementById('run-violations').onclick = async () => {
  const out = document.getElementById('violations-result');
  out.textContent = t('running');
  const r = await post('analysis/violations', { headers: { 'content-type': 'application/json' }, body: '{}' });
  const start = await r.json();
  if (!r.ok) { out.innerHTML = `<p class="error">${esc(start.message)}</p>`; return; }
  for (;;) {
    const job = await (await fetch(api(start.status_url.replace(/^\//, '')))).json();
    if (job.state === 'done') { lastJob = job; renderViolations(job); return; }
    if (job.state === 'failed') { out.innerHTML = `<p class="error">${esc(t('failed'))}: ${esc(job.error?.message)}</p>`; return; }
    out.textContent = `${t('running')} ${job.progress.done}/${job.progress.total}`;
    await new Promise((res) => setTimeout(res, 300));
  }
};
for (const id of ['v-class', 'v-admin']) document.getElementById(id).addEventListener('input', () => lastJob && renderViolations(lastJob));

function renderViolations(job) {
  const cls = document.getElementById('v-class').value;
  const admin = document.getElementById('v-admin').value.trim();
  const rows = job.result.patches.filter((p) => (!cls || p.class === cls) && (!admin || String(p.admin).includes(admin)));
  const out = document.getElementById('violations-result');
  const totals = Object.entries(job.result.totals).map(([k, v]) => `<span class="class-${esc(k)}">${esc(k)} ${v.count}</span>`).join(' · ');
  out.innerHTML = `<p>${totals}</p><table><tr><th>${esc(t('patch'))}</th><th>${esc(t('cls'))}</th><th>${esc(t('admin'))}</th><th>${esc(t('area'))}</th></tr>
    ${rows.map((p) => `<tr class="clickable" data-fid="${p.fid}" title="${esc(p.reasons.join('；'))}"><td>${esc(p.id)}</td><td class="class-${esc(p.class)}">${esc(p.class)}</td><td>${esc(p.admin)}</td><td>${p.area_m2.toFixed(1)}</td></tr>`).join('')}</table>`;
  for (const tr of out.querySelectorAll('tr.clickable')) {
    tr.onclick = async () => {
      const layer = job.result.patches_layer;
      const f = await (await fetch(api(`collections/${encodeURIComponent(layer)}/items/${tr.dataset.fid}`))).json();
      if (!visible.has(layer)) { setVisible(layer, true); renderLayerPanel(); }
      highlight([f]);
    };
  }
}

// ---------------------------------------------------------------- start
for (const b of document.querySelectorAll('#tabs button')) {
  b.onclick = () => {
    for (const x of document.querySelectorAll('#tabs button')) x.classList.toggle('active', x === b);
    for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === `tab-${b.dataset.tab}`);
  };
}
document.getElementById('lang').onclick = () => { lang = lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('onemap.lang', lang); applyLanguage(); };

function reportError(err) {
  window.onemap.errors.push(String(err));
  console.error(err);
}

function showWho() {
  const who = document.getElementById('who');
  who.textContent = session.user ? `${session.user}` : t('guest');
  who.title = session.roles.join(', ');
  document.getElementById('login-open').hidden = !session.accounts || !!session.user;
  document.getElementById('logout').hidden = !session.user;
  window.onemap.user = session.user;
}

async function loadSession() {
  const me = await (await fetch(api('auth/me'))).json();
  session.user = me.authenticated && me.via === 'session' ? me.user : null;
  session.roles = me.roles ?? [];
  session.csrf = me.csrf ?? null;
  session.accounts = !!me.accounts;
  showWho();
}

document.getElementById('login-open').onclick = () => document.getElementById('login-dialog').showModal();
document.getElementById('login-cancel').onclick = () => document.getElementById('login-dialog').close();
document.getElementById('login-form').onsubmit = async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const r = await fetch(api('auth/login'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: f.get('user'), password: f.get('password') }),
  });
  const doc = await r.json();
  if (!r.ok) {
    document.getElementById('login-error').textContent = `${t('loginFailed')}: ${doc.message ?? r.status}`;
    return;
  }
  // What the map may show depends on who looks: start again as the signed-in user.
  location.reload();
};
document.getElementById('logout').onclick = async () => {
  await post('auth/logout');
  location.reload();
};

map.on('load', async () => {
  try {
    await loadSession();
    const r = await fetch(api('layers'));
    const doc = await r.json();
    catalog = Array.isArray(doc) ? doc : doc.layers ?? [];
    for (const l of catalog) visible.add(l.name);
    addOverlays();
    applyLanguage();
    window.onemap.ready = true;
  } catch (err) { reportError(err); }
});
map.on('error', (e) => reportError(e.error?.message ?? e));
applyLanguage();
