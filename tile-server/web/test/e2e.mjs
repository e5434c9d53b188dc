// End-to-end test of the web client in Debian's Chromium (playwright-core; WebGL on SwiftShader).
//   node e2e.mjs BASE_URL SCREENSHOT_DIR PARCEL_ID PARCEL_LON PARCEL_LAT FARM_LON FARM_LAT
// Loads the map and waits until it is idle, toggles a layer, clicks a parcel and reads the popup,
// searches the parcel id, draws a red line over basic farmland and reads the failing rule, switches
// to English, runs violation detection and opens a patch, logs in (ONEMAP_E2E_USER /
// ONEMAP_E2E_PASSWORD) and out, opens the API's service-doc page (Swagger UI); saves screenshots; prints JSON facts
// (console errors included) for the Rust test to assert on. Exits non-zero on a failed step.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const [base, shots, parcelId, plon, plat, flon, flat] = process.argv.slice(2);
const facts = { console_errors: [], steps: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader'],
});
const fail = async (msg) => {
  facts.error = msg;
  console.log(JSON.stringify(facts));
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('console', (m) => { if (m.type() === 'error') facts.console_errors.push(m.text()); });
  page.on('pageerror', (e) => facts.console_errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) facts.console_errors.push(`HTTP ${r.status()} for ${r.url()}`); });
  const idle = () => page.waitForFunction(() => window.onemap?.ready && window.onemap.map.loaded() && window.onemap.map.areTilesLoaded(), null, { timeout: 30000 });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`) });
  const started = Date.now();
  await page.goto(`${base}/`);
  await idle();
  facts.load_ms = Date.now() - started;
  facts.title = await page.title();
  await shot('01-loaded');
  facts.steps.push('loaded');

  // Layer panel: departments and a toggle.
  facts.departments = await page.locator('.dept h3').allTextContents();
  await page.locator('[data-testid="toggle-landuse"]').uncheck();
  facts.landuse_hidden = await page.evaluate(() => window.onemap.map.getLayoutProperty('landuse-fill', 'visibility'));
  await shot('02-landuse-off');
  await page.locator('[data-testid="toggle-landuse"]').check();
  facts.landuse_shown = await page.evaluate(() => window.onemap.map.getLayoutProperty('landuse-fill', 'visibility'));
  facts.steps.push('toggled');

  // The legend from the served style, and the opacity slider.
  facts.legend_items = await page.locator('[data-layer="landuse"] .legend span').count();
  facts.legend_text = await page.locator('[data-layer="landuse"] .legend').innerText();
  facts.opacity_before = await page.evaluate(() => window.onemap.map.getPaintProperty('landuse-fill', 'fill-opacity'));
  await page.locator('[data-testid="opacity-landuse"]').fill('30');
  facts.opacity_after = await page.evaluate(() => window.onemap.map.getPaintProperty('landuse-fill', 'fill-opacity'));
  await page.locator('[data-testid="opacity-landuse"]').fill('100');
  facts.steps.push('legend and opacity');

  const clickAt = async (lon, lat, dbl = false) => {
    const box = await page.locator('#map').boundingBox();
    const [x, y] = await page.evaluate(([a, b]) => { const p = window.onemap.map.project([a, b]); return [p.x, p.y]; }, [lon, lat]);
    if (dbl) await page.mouse.dblclick(box.x + x, box.y + y); else await page.mouse.click(box.x + x, box.y + y);
  };

  // Identify a parcel.
  await page.evaluate(([a, b]) => window.onemap.map.jumpTo({ center: [a, b], zoom: 17 }), [Number(plon), Number(plat)]);
  await idle();
  // The cursor's coordinates: lon/lat and CGCS2000 3° Gauss–Krüger, in the status bar.
  {
    const box = await page.locator('#map').boundingBox();
    await page.mouse.move(box.x + box.width / 2 + 7, box.y + box.height / 2 - 5);
    facts.coords_text = await page.locator('[data-testid="coords"]').innerText();
  }
  await clickAt(Number(plon), Number(plat));
  await page.waitForSelector('[data-testid="popup"]', { timeout: 10000 });
  facts.popup = await page.locator('[data-testid="popup"]').innerText();
  await shot('03-identify');
  if (!facts.popup.includes(parcelId)) await fail(`the popup does not show parcel ${parcelId}`);
  facts.steps.push('identified');
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove()));

  // Search the parcel id.
  await page.evaluate(() => window.onemap.map.jumpTo({ zoom: 13 }));
  await page.fill('#search-input', parcelId);
  await page.press('#search-input', 'Enter');
  await page.waitForFunction(() => (window.onemap.highlighted ?? []).length > 0, null, { timeout: 10000 });
  facts.search = await page.evaluate(() => window.onemap.highlighted.map((f) => `${f.layer} ${f.properties.parcel_id ?? ''}`));
  await page.waitForTimeout(800);
  await shot('04-search');
  facts.steps.push('searched');

  // Measuring a distance: two clicks, the client's sphere against the ellipsoid (the test).
  await page.click('[data-tab="measure"]');
  await page.evaluate(([x, y]) => window.onemap.map.jumpTo({ center: [x, y], zoom: 16 }), [Number(plon), Number(plat)]);
  await idle();
  await page.click('#measure-line');
  {
    const [a, b] = [Number(plon), Number(plat)];
    await clickAt(a - 0.002, b - 0.001);
    await clickAt(a + 0.003, b + 0.002, true);
    facts.measure_text = await page.locator('[data-testid="measure-result"]').innerText();
    facts.measure_points = await page.evaluate(() => window.onemap.measuring);
  }
  await page.click('#measure-clear');
  facts.steps.push('measured');

  // A red line from a file: the upload input, then the check.
  if (process.env.ONEMAP_E2E_UPLOAD) {
    await page.click('[data-tab="approval"]');
    await page.evaluate(() => { window.onemap.highlighted = []; });
    await page.setInputFiles('[data-testid="upload"]', process.env.ONEMAP_E2E_UPLOAD);
    await page.waitForFunction(() => (window.onemap.highlighted ?? []).length > 0, null, { timeout: 10000 });
    await page.click('[data-testid="check"]');
    await page.waitForSelector('[data-testid="conclusion"]', { timeout: 15000 });
    facts.upload_conclusion = await page.locator('[data-testid="conclusion"]').innerText();
    await page.click('#draw-clear');
    facts.steps.push('uploaded');
  }

  // Approval check: a red line on basic farmland.
  await page.click('[data-tab="approval"]');
  const [a, b] = [Number(flon), Number(flat)];
  await page.evaluate(([x, y]) => window.onemap.map.jumpTo({ center: [x, y], zoom: 16 }), [a, b]);
  await idle();
  await page.click('[data-testid="draw"]');
  const d = 0.0006;
  await clickAt(a - d, b - d);
  await clickAt(a + d, b - d);
  await clickAt(a + d, b + d);
  await clickAt(a - d, b + d, true);
  await page.fill('[data-testid="use"]', '0701');
  await page.click('[data-testid="check"]');
  await page.waitForSelector('[data-testid="conclusion"]', { timeout: 15000 });
  facts.conclusion = await page.locator('[data-testid="conclusion"]').innerText();
  facts.basic_farmland = await page.locator('tr[data-rule="basic_farmland"]').getAttribute('data-status');
  facts.basic_farmland_text = await page.locator('tr[data-rule="basic_farmland"]').innerText();
  await shot('05-approval');
  facts.steps.push('checked');

  // English.
  await page.click('[data-testid="lang"]');
  facts.english_title = await page.locator('header h1').innerText();
  facts.english_rule = await page.locator('tr[data-rule="basic_farmland"]').innerText();
  await shot('06-english');

  // Violation review.
  await page.click('[data-tab="violations"]');
  await page.click('[data-testid="run-violations"]');
  await page.waitForSelector('#violations-result tr.clickable', { timeout: 20000 });
  facts.violation_rows = await page.locator('#violations-result tr.clickable').count();
  await page.selectOption('[data-testid="v-class"]', '疑似违法');
  facts.suspected_rows = await page.locator('#violations-result tr.clickable').count();
  // The admin-unit filter: every row left is in that unit.
  await page.selectOption('[data-testid="v-class"]', '');
  const firstAdmin = await page.locator('#violations-result tr.clickable td:nth-child(3)').first().innerText();
  await page.fill('#v-admin', firstAdmin);
  facts.admin_filter = firstAdmin;
  facts.admin_rows = await page.locator('#violations-result tr.clickable td:nth-child(3)').allInnerTexts();
  await page.fill('#v-admin', '');
  await page.selectOption('[data-testid="v-class"]', '疑似违法');
  await page.locator('#violations-result tr.clickable').first().click();
  await page.waitForFunction(() => (window.onemap.highlighted ?? []).some((f) => f.properties?.JCBH !== undefined), null, { timeout: 10000 });
  await page.waitForTimeout(800);
  await shot('07-violations');
  facts.steps.push('reviewed');

  // Log in (the demo's first account, which holds the registration role), see owners in the
  // popup, log out and no longer see them.
  const user = process.env.ONEMAP_E2E_USER;
  const password = process.env.ONEMAP_E2E_PASSWORD;
  if (user && password) {
    facts.who_before = await page.locator('[data-testid="who"]').innerText();
    await page.click('[data-testid="login-open"]');
    await page.fill('#login-form input[name="user"]', user);
    await page.fill('#login-form input[name="password"]', 'not-the-password');
    const before = facts.console_errors.length;
    await page.click('[data-testid="login-submit"]');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0, null, { timeout: 10000 });
    facts.login_error = await page.locator('[data-testid="login-error"]').innerText();
    // The browser logs the deliberate failed login's 401; it is the answer, not a fault.
    facts.refused_login_console = facts.console_errors.splice(before).filter((e) => !e.includes('401'));
    facts.console_errors.push(...facts.refused_login_console);
    await page.fill('#login-form input[name="password"]', password);
    await Promise.all([page.waitForNavigation(), page.click('[data-testid="login-submit"]')]);
    await idle();
    await page.waitForFunction((u) => window.onemap.user === u, user, { timeout: 10000 });
    facts.who_logged_in = await page.locator('[data-testid="who"]').innerText();
    await page.evaluate(([x, y]) => window.onemap.map.jumpTo({ center: [x, y], zoom: 17 }), [Number(plon), Number(plat)]);
    await idle();
    await page.click('[data-tab="layers"]');
    await clickAt(Number(plon), Number(plat));
    await page.waitForSelector('[data-testid="popup"]', { timeout: 10000 });
    facts.popup_logged_in = await page.locator('[data-testid="popup"]').innerText();
    await shot('08-logged-in');
    await Promise.all([page.waitForNavigation(), page.click('[data-testid="logout"]')]);
    await idle();
    await page.waitForFunction(() => window.onemap.user === null, null, { timeout: 10000 });
    facts.who_logged_out = await page.locator('[data-testid="who"]').innerText();
    await page.evaluate(([x, y]) => window.onemap.map.jumpTo({ center: [x, y], zoom: 17 }), [Number(plon), Number(plat)]);
    await idle();
    await clickAt(Number(plon), Number(plat));
    await page.waitForSelector('[data-testid="popup"]', { timeout: 10000 });
    facts.popup_logged_out = await page.locator('[data-testid="popup"]').innerText();
    facts.steps.push('logged in and out');
  }

  // Tablet size.
  await page.setViewportSize({ width: 768, height: 1024 });
  await page.waitForTimeout(500);
  await shot('08-tablet');
  facts.app_errors = await page.evaluate(() => window.onemap.errors);

  // The API's service-doc page (the landing page links it): Swagger UI over /api, under the
  // server's Content-Security-Policy (a blocked script would land in console_errors).
  const landing = await (await page.request.get(`${base}/?f=json`)).json();
  const doc = landing.links.find((l) => l.rel === 'service-doc');
  await page.goto(doc.href);
  await page.waitForSelector('.opblock', { timeout: 30000 });
  facts.api_doc_operations = await page.locator('.opblock').count();
  facts.api_doc_title = await page.locator('.info .title').innerText();
  await shot('09-api-doc');
  facts.steps.push('api doc');
} catch (e) {
  await fail(String(e));
}
console.log(JSON.stringify(facts));
await browser.close();
