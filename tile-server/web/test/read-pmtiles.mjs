// Reads a PMTiles archive with the reference JavaScript reader (npm `pmtiles`) and prints its
// header, its metadata and the named tiles (hex of the decompressed MVT) as JSON.
//
//   node read-pmtiles.mjs archive.pmtiles 14/13368/6522 ...
import { open } from 'node:fs/promises';
import { PMTiles } from 'pmtiles';

const [path, ...tiles] = process.argv.slice(2);
const fh = await open(path, 'r');

// A pmtiles Source over a local file.
const source = {
  getKey: () => path,
  getBytes: async (offset, length) => {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    const data = buf.buffer.slice(buf.byteOffset, buf.byteOffset + bytesRead);
    return { data };
  },
};

const p = new PMTiles(source);
const header = await p.getHeader();
const metadata = await p.getMetadata();
const out = { header, metadata, tiles: {} };
for (const t of tiles) {
  const [z, x, y] = t.split('/').map(Number);
  const r = await p.getZxy(z, x, y);
  out.tiles[t] = r ? Buffer.from(r.data).toString('hex') : null;
}
await fh.close();
process.stdout.write(JSON.stringify(out));
