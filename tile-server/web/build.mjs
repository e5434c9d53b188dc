// Build the web client into dist/: our sources plus MapLibre GL JS's ESM build and Swagger UI (the
// API's service-doc page) from node_modules
// (installed by `npm ci` from the lockfile; nothing third-party is committed). The onemap binary
// embeds dist/ at compile time (tile-server/build.rs).
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
for (const f of readdirSync(join(here, 'src'))) cpSync(join(here, 'src', f), join(dist, f));
const maplibre = join(here, 'node_modules', 'maplibre-gl', 'dist');
for (const f of ['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl.css']) {
  cpSync(join(maplibre, f), join(dist, f));
}
// Swagger UI for the API's service-doc page (src/api.html).
const swagger = join(here, 'node_modules', 'swagger-ui-dist');
for (const f of ['swagger-ui-bundle.js', 'swagger-ui.css']) cpSync(join(swagger, f), join(dist, f));
console.log(`web client built into ${dist}: ${readdirSync(dist).join(', ')}`);
