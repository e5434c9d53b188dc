#!/usr/bin/env python3
"""Generate onemap's Xinzheng (新郑) demo data with a fixed seed.

Writes xinzheng_landuse.geojson: current land use (现状用地) as blocks around the city centre
(113.74E, 34.40N), classified with 国土空间调查、规划、用途管制用地用海分类 (2023) codes.
Blocks are separated by road corridors; the centre is commercial and residential, the ring
industrial and public, the outskirts farmland, with a river (双洎河 stand-in) across the south.

The data is synthetic: the shapes are not surveyed boundaries. Run it again to get the same bytes:
    python3 sample-data/generate.py
"""
import json
import math
import os
import random

SEED = 410184  # Xinzheng's administrative code
CENTRE = (113.74, 34.40)
COLS, ROWS = 20, 14
BLOCK = 0.0016   # degrees, ~150 m east-west
ROAD = 0.00016   # road corridor, ~15 m

NAMES = {
    "0103": "旱地", "0102": "水浇地", "0201": "果园", "0701": "城镇住宅用地", "0703": "农村宅基地",
    "0801": "机关团体用地", "0804": "教育用地", "0806": "医疗卫生用地", "0901": "商业用地",
    "1001": "工业用地", "1101": "物流仓储用地", "1401": "公园绿地", "1504": "文物古迹用地",
    "1701": "河流水面",
}
STREETS = ["新建路街道", "新华路街道", "新烟街道", "和庄镇", "城关乡", "龙湖镇"]


def classify(rng, dx, dy):
    r = math.hypot(dx / COLS, dy / ROWS)
    if r < 0.18:
        return rng.choice(["0901", "0901", "0701", "0801", "1401"])
    if r < 0.32:
        return rng.choice(["0701", "0701", "0701", "0804", "0806", "0901", "1401"])
    if r < 0.45:
        return rng.choice(["1001", "1001", "1101", "0701", "0703"])
    return rng.choice(["0103", "0103", "0102", "0102", "0201", "0703"])


def main():
    rng = random.Random(SEED)
    x0 = CENTRE[0] - COLS / 2 * BLOCK
    y0 = CENTRE[1] - ROWS / 2 * BLOCK
    features = []
    for j in range(ROWS):
        for i in range(COLS):
            dx, dy = i - COLS / 2 + 0.5, j - ROWS / 2 + 0.5
            code = "1701" if j == 1 else classify(rng, dx, dy)
            if (i, j) in ((13, 11), (14, 11)):
                code = "1504"  # 郑韩故城 walls stand-in: heritage land in the north-east
            minx = x0 + i * BLOCK + ROAD / 2
            miny = y0 + j * BLOCK + ROAD / 2
            maxx = minx + BLOCK - ROAD
            maxy = miny + BLOCK - ROAD
            # Corners nudged so blocks are not all perfect rectangles (still simple and valid).
            j1 = lambda: round(rng.uniform(-0.12, 0.12) * (BLOCK - ROAD), 7)
            ring = [
                [round(minx + j1() * 0.3, 7), round(miny, 7)],
                [round(maxx, 7), round(miny + j1() * 0.3, 7)],
                [round(maxx - j1() * 0.3, 7), round(maxy, 7)],
                [round(minx, 7), round(maxy - j1() * 0.3, 7)],
            ]
            ring.append(ring[0])
            features.append({
                "type": "Feature",
                "properties": {
                    "BSM": f"4101842023{len(features) + 1:06d}",
                    "DLBM": code,
                    "DLMC": NAMES[code],
                    "XZQDM": "410184",
                    "ZLDWMC": STREETS[(i * 7 + j * 3) % len(STREETS)],
                    "SJNF": 2023,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })
    out = {
        "type": "FeatureCollection",
        "name": "xinzheng_landuse",
        "features": features,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xinzheng_landuse.geojson")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(features)} features to {path}")


if __name__ == "__main__":
    main()
