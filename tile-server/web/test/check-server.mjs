// Reads a running onemap server the way a client would and prints one JSON report on stdout:
// TileJSON of every layer (and the composite) checked against the TileJSON 3.0.0 schema, every
// style checked by gl-style-validate, and the tiles named on the command line decoded with
// @mapbox/vector-tile (an independent decoder), fetched with brotli and with gzip.
//
//   node check-server.mjs http://127.0.0.1:8080 14/13368/6522 12/3342/1630 ...
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import Ajv from 'ajv';

const [base, ...tiles] = process.argv.slice(2);
const here = new URL('.', import.meta.url).pathname;
const validateStyleBin = join(here, '..', 'node_modules', '.bin', 'gl-style-validate');

async function json(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

const schema = JSON.parse(readFileSync(join(here, 'tilejson-3.0.0.schema.json'), 'utf8'));
delete schema.$comment;
const validateTileJson = new Ajv({ allErrors: true, strict: false }).compile(schema);

const tmp = mkdtempSync(join(tmpdir(), 'onemap-styles-'));
function styleErrors(name, style) {
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(style));
  try {
    execFileSync(process.execPath, [validateStyleBin, file], { encoding: 'utf8', stdio: 'pipe' });
    return [];
  } catch (e) {
    return [(e.stdout || '') + (e.stderr || '') || String(e)];
  }
}

function decode(buf) {
  const vt = new VectorTile(new PbfReader(buf));
  const layers = {};
  for (const [name, layer] of Object.entries(vt.layers)) {
    const features = [];
    for (let i = 0; i < layer.length; i++) {
      const f = layer.feature(i);
      features.push({
        id: f.id,
        type: f.type,
        properties: f.properties,
        geometry: f.loadGeometry().map((ring) => ring.map((p) => [p.x, p.y])),
      });
    }
    layers[name] = { version: layer.version, extent: layer.extent, features };
  }
  return layers;
}

const report = { layers: [], tilejson: {}, tilejson_errors: {}, style_errors: {}, tiles: {} };
const catalog = await json(`${base}/layers`);
for (const l of catalog.layers) {
  report.layers.push(l.name);
  const tj = await json(l.tilejson);
  report.tilejson[l.name] = tj;
  if (!validateTileJson(tj)) report.tilejson_errors[l.name] = validateTileJson.errors;
  const errs = styleErrors(l.name, await json(l.style));
  if (errs.length) report.style_errors[l.name] = errs;
}
const all = await json(`${base}/styles/onemap.json`);
const allErrs = styleErrors('onemap', all);
if (allErrs.length) report.style_errors.onemap = allErrs;
report.composite_style_layers = all.layers.map((l) => l.id);
const compositeTj = await json(all.sources.onemap.url);
report.tilejson.composite = compositeTj;
if (!validateTileJson(compositeTj)) report.tilejson_errors.composite = validateTileJson.errors;

for (const t of tiles) {
  const [z, x, y] = t.split('/');
  const url = compositeTj.tiles[0].replace('{z}', z).replace('{x}', x).replace('{y}', y);
  const entry = { url };
  for (const enc of ['br', 'gzip']) {
    const res = await fetch(url, { headers: { 'Accept-Encoding': enc } });
    entry[enc] = {
      status: res.status,
      content_encoding: res.headers.get('content-encoding'),
      content_type: res.headers.get('content-type'),
      cache_control: res.headers.get('cache-control'),
      etag: res.headers.get('etag'),
    };
    if (res.status === 200) {
      const buf = new Uint8Array(await res.arrayBuffer());
      entry[enc].bytes = buf.length;
      if (enc === 'br') entry.layers = decode(buf);
      else entry.same_as_br = JSON.stringify(decode(buf)) === JSON.stringify(entry.layers);
    }
  }
  report.tiles[t] = entry;
}
process.stdout.write(JSON.stringify(report));
