#!/usr/bin/env python3
"""Generate onemap's Xinzheng (新郑) demo data with a fixed seed.

Layers (one format per department, as they arrive at a city GIS office; see manifest.toml):
* xinzheng_landuse.geojson — current land use (现状用地) as blocks around the city centre
  (113.74E, 34.40N), classified with 国土空间调查、规划、用途管制用地用海分类 (2023) codes. Blocks are
  separated by road corridors; the centre is commercial and residential, the ring industrial and
  public, the outskirts farmland, with a river (双洎河 stand-in) across the south.
* xinzheng_planning.gpkg — planning zones (控规) of 2x2 blocks with planned codes and limits,
  GeoPackage (as QGIS saves it).
* xinzheng_cadastral.shp — cadastral parcels (宗地): the central blocks split into four; Shapefile
  with a GBK DBF (.cpg) in EPSG:4547 (.prj).
* xinzheng_pipelines.fgb — pipelines along the road corridors (CJJ 61 kind codes), FlatGeobuf.
* xinzheng_heritage.geojson — 保护范围 and 建设控制地带 of 郑韩故城, 黄帝故里 and 裴李岗遗址 near
  their real locations (outlines are schematic).
* xinzheng_control_lines.geojson — 生态保护红线 (river corridor), 永久基本农田, 城镇开发边界.
* xinzheng_approvals.csv — planning permits' red lines (规划许可), CSV with a WKT column.
* xinzheng_change_patches.csv — change patches (卫片图斑), CSV with WKT; some deliberately illegal:
  built on basic farmland, inside a heritage protection range, without any approval.

The data is synthetic: the shapes are not surveyed boundaries. Run it again to get the same data
(the Shapefile's DBF header records the day GDAL wrote it); it needs ogr2ogr (Debian gdal-bin) for
the Shapefile and FlatGeobuf:
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
    write("xinzheng_landuse", features)
    blocks = [(f["geometry"]["coordinates"][0], f["properties"]["DLBM"]) for f in features]
    # The plan comes from the planning institute's QGIS project as a GeoPackage.
    plan = planning(rng, x0, y0)
    with_gdal("xinzheng_planning", plan, "xinzheng_planning.gpkg",
              ["-f", "GPKG", "-a_srs", "EPSG:4490"])
    # The cadastre comes from the registration system as a Shapefile: GBK attributes (with a .cpg),
    # CGCS2000 3-degree Gauss-Kruger CM 114E (EPSG:4547) in the .prj, field names cut to 10 bytes.
    cadastral_features = cadastral(rng, x0, y0, blocks)
    with_gdal("xinzheng_cadastral", cadastral_features, "xinzheng_cadastral.shp",
              ["-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", "-s_srs", "EPSG:4490", "-t_srs", "EPSG:4547"])
    # Pipelines from the survey contractor as FlatGeobuf (CGCS2000 lon/lat in the header).
    pipes = pipelines(rng, x0, y0)
    with_gdal("xinzheng_pipelines", pipes, "xinzheng_pipelines.fgb",
              ["-f", "FlatGeobuf", "-a_srs", "EPSG:4490"])
    write("xinzheng_heritage", heritage())
    write("xinzheng_control_lines", control_lines(x0, y0))
    # Approvals and change patches as spreadsheets with a WKT column.
    zone_code = {tuple(int(n) - 1 for n in f["properties"]["zone_id"][3:].split("-"))[::-1]: f["properties"]["land_use_code"]
                 for f in plan}
    permits = approvals(x0, y0, zone_code)
    write_csv("xinzheng_approvals", permits)
    patches = change_patches(x0, y0, {f["properties"]["permit_no"]: f["properties"]["approved_use"] for f in permits})
    write_csv("xinzheng_change_patches", patches)
    # What was made, for the tests to expect (rather than counts copied from a run).
    describe({
        "landuse": features, "planning": plan, "cadastral": cadastral_features,
        "pipelines": pipes, "heritage": heritage(), "control_lines": control_lines(x0, y0),
        "approvals": permits, "change_patches": patches,
    })


def describe(layers):
    """expected.json: features per layer, land use by class, patches by expected verdict."""
    from collections import Counter
    out = {
        "features": {name: len(fs) for name, fs in layers.items()},
        "landuse_by_class": dict(sorted(Counter(f["properties"]["DLBM"] for f in layers["landuse"]).items())),
        "patches_by_expected": dict(sorted(Counter(f["properties"]["expected"] for f in layers["change_patches"]).items())),
        "patches_before_0103": sum(1 for f in layers["change_patches"] if f["properties"]["land_class_before"] == "0103"),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path}")


def with_gdal(name, features, out_name, args):
    """Write `features` through ogr2ogr (GDAL's own writers make these files as a GIS office's
    tools would)."""
    import shutil
    import subprocess
    import tempfile
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("generate.py needs ogr2ogr (Debian gdal-bin) to write Shapefile/FlatGeobuf")
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, name + ".geojson")
        with open(src, "w", encoding="utf-8") as f:
            json.dump({"type": "FeatureCollection", "features": features}, f, ensure_ascii=False)
        base = os.path.join(here, out_name)
        stem = os.path.splitext(base)[0]
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".fgb", ".gpkg"):
            if os.path.exists(stem + ext):
                os.remove(stem + ext)
        subprocess.run(["ogr2ogr", *args, base, src, "-nln", name], check=True,
                       stderr=subprocess.DEVNULL)
    print(f"wrote {len(features)} features to {base}")


def write_csv(name, features):
    import csv
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".csv")
    keys = list(features[0]["properties"].keys())
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys + ["WKT"])
        for feat in features:
            w.writerow([feat["properties"][k] for k in keys] + [wkt_of(feat["geometry"])])
    print(f"wrote {len(features)} features to {path}")


def wkt_of(geom):
    t = geom["type"]
    if t == "Polygon":
        rings = ", ".join("(" + ", ".join(f"{x} {y}" for x, y in ring) + ")" for ring in geom["coordinates"])
        return f"POLYGON ({rings})"
    if t == "LineString":
        return "LINESTRING (" + ", ".join(f"{x} {y}" for x, y in geom["coordinates"]) + ")"
    if t == "Point":
        x, y = geom["coordinates"]
        return f"POINT ({x} {y})"
    raise ValueError(t)


def write(name, features):
    out = {"type": "FeatureCollection", "name": name, "features": features}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".geojson")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(features)} features to {path}")


def rect(minx, miny, maxx, maxy):
    r = [[round(minx, 7), round(miny, 7)], [round(maxx, 7), round(miny, 7)],
         [round(maxx, 7), round(maxy, 7)], [round(minx, 7), round(maxy, 7)]]
    return [r + [r[0]]]


def feature(props, geom_type, coords):
    return {"type": "Feature", "properties": props, "geometry": {"type": geom_type, "coordinates": coords}}


PLAN = {
    "0701": ("城镇住宅用地", 2.5, 0.30, 60, 0.30),
    "0801": ("机关团体用地", 1.5, 0.35, 40, 0.35),
    "0804": ("教育用地", 1.2, 0.30, 24, 0.35),
    "0901": ("商业用地", 3.5, 0.45, 100, 0.20),
    "1001": ("工业用地", 1.2, 0.50, 24, 0.15),
    "1401": ("公园绿地", 0.1, 0.05, 10, 0.70),
    "0103": ("旱地", 0.0, 0.0, 0, 0.0),
    "1504": ("文物古迹用地", 0.3, 0.10, 9, 0.50),
    "1701": ("河流水面", 0.0, 0.0, 0, 0.0),
}


def planning(rng, x0, y0):
    out = []
    for j in range(0, ROWS, 2):
        for i in range(0, COLS, 2):
            dx, dy = i - COLS / 2 + 1, j - ROWS / 2 + 1
            r = math.hypot(dx / COLS, dy / ROWS)
            if j <= 1:
                code = "1701"
            elif (i, j) == (12, 10) or (i, j) == (14, 10):
                code = "1504"
            elif r < 0.18:
                code = rng.choice(["0901", "0801", "1401"])
            elif r < 0.35:
                code = rng.choice(["0701", "0701", "0804", "0901"])
            elif r < 0.45:
                code = rng.choice(["1001", "0701"])
            else:
                code = "0103"
            name, far, density, height, green = PLAN[code]
            props = {
                "zone_id": f"XZ-{j // 2 + 1:02d}-{i // 2 + 1:02d}",
                "land_use_code": code,
                "land_use_name": name,
                "far_max": far,
                "density_max": density,
                "height_max_m": height,
                "green_min": green,
                "plan_name": "新郑市中心城区控制性详细规划",
            }
            out.append(feature(props, "Polygon",
                               rect(x0 + i * BLOCK, y0 + j * BLOCK, x0 + (i + 2) * BLOCK, y0 + (j + 2) * BLOCK)))
    return out


OWNERS = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"]
RIGHTS = ["国有建设用地使用权", "国有建设用地使用权/房屋所有权", "集体建设用地使用权", "宅基地使用权"]


def cadastral(rng, x0, y0, blocks):
    out = []
    for k, (ring, code) in enumerate(blocks):
        i, j = k % COLS, k // COLS
        if not (5 <= i < 15 and 3 <= j < 11) or code in ("1701", "0103", "0102"):
            continue
        (ax, ay), (bx, by), (cx, cy), (dx_, dy_) = ring[0], ring[1], ring[2], ring[3]
        # Split the (slightly irregular) block into 2x2 parcels sharing edges exactly.
        def lerp(p, q, t):
            return [p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t]
        grid = {}
        for u in range(3):
            bottom = lerp([ax, ay], [bx, by], u / 2)
            top = lerp([dx_, dy_], [cx, cy], u / 2)
            for v in range(3):
                p = lerp(bottom, top, v / 2)
                grid[(u, v)] = [round(p[0], 7), round(p[1], 7)]
        for u in range(2):
            for v in range(2):
                r = [grid[(u, v)], grid[(u + 1, v)], grid[(u + 1, v + 1)], grid[(u, v + 1)], grid[(u, v)]]
                n = len(out) + 1
                props = {
                    "parcel_id": f"410184{j + 1:03d}{i + 1:03d}GB{n:05d}",
                    "owner": OWNERS[(n * 7) % len(OWNERS)] + "某" + str(n % 50),
                    "rights_type": RIGHTS[0] if code not in ("0703",) else RIGHTS[3],
                    "land_use_code": code,
                    "registered_area_m2": None,
                    "address": f"新郑市{STREETS[(i * 7 + j * 3) % len(STREETS)]}{n}号",
                }
                out.append(feature(props, "Polygon", [r]))
    # Registered areas: the planar area on a local tangent plane, rounded like a certificate.
    for f in out:
        r = f["geometry"]["coordinates"][0]
        lat = math.radians(CENTRE[1])
        mx = 111320.0 * math.cos(lat)
        my = 110574.0
        a = 0.0
        for p, q in zip(r, r[1:]):
            a += p[0] * mx * q[1] * my - q[0] * mx * p[1] * my
        f["properties"]["registered_area_m2"] = round(abs(a) / 2, 2)
    return out


PIPES = [("JS", "给水", 300, 1.2, None), ("PS", "排水", 800, 2.5, None), ("RQ", "燃气", 200, 1.1, "中压B"),
         ("RL", "热力", 400, 1.6, None), ("DL", "电力", 0, 0.8, "10kV"), ("TX", "通信", 0, 0.7, None)]


def pipelines(rng, x0, y0):
    out = []
    n = 0
    # Along every other east-west and north-south road corridor in the centre, one pipe per kind,
    # offset across the corridor.
    for j in range(3, 12, 2):
        y = y0 + j * BLOCK
        for k, (code, name, dn, depth, pressure) in enumerate(PIPES):
            n += 1
            off = (k - 2.5) * ROAD / 7
            coords = [[round(x0 + 4 * BLOCK, 7), round(y + off, 7)], [round(x0 + 10 * BLOCK, 7), round(y + off + 0.00002, 7)],
                      [round(x0 + 16 * BLOCK, 7), round(y + off, 7)]]
            out.append(feature({"pipe_id": f"GX{n:04d}", "pipe_kind": code, "kind_name": name,
                                "diameter_mm": dn or None, "depth_m": depth, "pressure": pressure,
                                "material": rng.choice(["PE", "球墨铸铁", "钢", "混凝土"]), "built_year": rng.randint(1995, 2022)},
                               "LineString", coords))
    for i in range(5, 16, 3):
        x = x0 + i * BLOCK
        for k, (code, name, dn, depth, pressure) in enumerate(PIPES[:3]):
            n += 1
            off = (k - 1) * ROAD / 5
            coords = [[round(x + off, 7), round(y0 + 2 * BLOCK, 7)], [round(x + off, 7), round(y0 + 12 * BLOCK, 7)]]
            out.append(feature({"pipe_id": f"GX{n:04d}", "pipe_kind": code, "kind_name": name,
                                "diameter_mm": dn or None, "depth_m": depth, "pressure": pressure,
                                "material": rng.choice(["PE", "球墨铸铁", "钢"]), "built_year": rng.randint(1995, 2022)},
                               "LineString", coords))
    return out


def ellipse(cx, cy, rx, ry, n=48, rot=0.0):
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append([round(cx + x * math.cos(rot) - y * math.sin(rot), 7), round(cy + x * math.sin(rot) + y * math.cos(rot), 7)])
    return pts + [pts[0]]


def heritage():
    # (name, level, centre, protection radii, control radii) — schematic, near the real sites.
    sites = [
        ("郑韩故城", "全国重点文物保护单位", (113.7480, 34.4070), (0.0065, 0.0032), (0.0095, 0.0055), 0.3),
        ("黄帝故里", "河南省文物保护单位", (113.7365, 34.3975), (0.0012, 0.0010), (0.0030, 0.0025), 0.0),
        ("裴李岗遗址", "全国重点文物保护单位", (113.6840, 34.4400), (0.0040, 0.0030), (0.0075, 0.0060), -0.2),
    ]
    out = []
    for name, level, (cx, cy), (prx, pry), (crx, cry), rot in sites:
        inner = ellipse(cx, cy, prx, pry, rot=rot)
        outer = ellipse(cx, cy, crx, cry, rot=rot)
        out.append(feature({"site_name": name, "protection_level": level, "zone_type": "保护范围",
                            "authority": "新郑市文物局"}, "Polygon", [inner]))
        # 建设控制地带: the ring around the protection range.
        out.append(feature({"site_name": name, "protection_level": level, "zone_type": "建设控制地带",
                            "authority": "新郑市文物局"}, "Polygon", [outer, list(reversed(inner))]))
    return out


def control_lines(x0, y0):
    out = []
    # Ecological red line: the river corridor (row 1) and its banks.
    out.append(feature({"line_type": "生态保护红线", "name": "双洎河生态廊道", "code": "STHX-01"}, "Polygon",
                       rect(x0 - 0.004, y0 + 0.7 * BLOCK, x0 + COLS * BLOCK + 0.004, y0 + 2.3 * BLOCK)))
    # Permanent basic farmland: the western and eastern outskirts.
    out.append(feature({"line_type": "永久基本农田", "name": "西部基本农田保护片区", "code": "JBNT-01"}, "Polygon",
                       rect(x0, y0 + 3 * BLOCK, x0 + 3 * BLOCK, y0 + ROWS * BLOCK)))
    out.append(feature({"line_type": "永久基本农田", "name": "东部基本农田保护片区", "code": "JBNT-02"}, "Polygon",
                       rect(x0 + 17 * BLOCK, y0 + 3 * BLOCK, x0 + COLS * BLOCK, y0 + 9 * BLOCK)))
    # Urban development boundary: the centre.
    out.append(feature({"line_type": "城镇开发边界", "name": "新郑市中心城区开发边界", "code": "KFBJ-01"}, "Polygon",
                       rect(x0 + 3.2 * BLOCK, y0 + 2.5 * BLOCK, x0 + 16.8 * BLOCK, y0 + 12.8 * BLOCK)))
    return out


def approvals(x0, y0, zone_code):
    # Permits on blocks clear of the heritage zones, inside the development boundary, for the use
    # the plan gives their zone (zone_code: (zone column, zone row) -> planned code).
    specs = [  # (permit, date, block i, j, far)
        ("新规许字〔2023〕001号", "2023-03-15", 6, 3, 2.2),
        ("新规许字〔2023〕014号", "2023-06-02", 10, 7, 3.0),
        ("新规许字〔2024〕003号", "2024-01-20", 4, 9, 1.0),
        ("新规许字〔2024〕021号", "2024-05-11", 12, 4, 1.1),
    ]
    out = []
    for permit, date, i, j, far in specs:
        use = zone_code[(i // 2, j // 2)]
        assert use not in ("0103", "1701", "1504"), (permit, use)
        out.append(feature({"permit_no": permit, "approved_date": date, "approved_use": use,
                            "far": far, "applicant": "新郑市某置业有限公司"}, "Polygon",
                           rect(x0 + i * BLOCK + ROAD, y0 + j * BLOCK + ROAD, x0 + (i + 1) * BLOCK - ROAD, y0 + (j + 1) * BLOCK - ROAD)))
    return out


def change_patches(x0, y0, permit_use):
    # (JCBH, block i, j, offset of the centre in blocks, size fraction, class before, class after,
    # expected, note) — `expected` and the note are for the analytics tests (the rules in
    # rules/default.toml must reach the same verdict); None as class after = the approved use.
    specs = [
        ("410184202405001", 6, 3, 0.0, 0.5, "0103", "新规许字〔2023〕001号", "合法", "在规划许可红线内"),
        ("410184202405002", 10, 7, 0.0, 0.4, "0701", "新规许字〔2023〕014号", "合法", "在规划许可红线内"),
        ("410184202405003", 1, 6, 0.0, 0.4, "0103", "1001", "疑似违法", "占用永久基本农田，无审批"),
        ("410184202405004", 18, 5, 0.0, 0.3, "0102", "1101", "疑似违法", "占用永久基本农田，无审批"),
        ("410184202405005", 14, 11, 0.0, 0.25, "1504", "0901", "疑似违法", "位于郑韩故城保护范围内"),
        ("410184202405006", 8, 9, 0.0, 0.3, "0701", "0701", "疑似违法", "未批先建"),
        ("410184202405007", 4, 9, 0.0, 0.45, "0103", "新规许字〔2024〕003号", "合法", "在规划许可红线内"),
        ("410184202405008", 3, 12, 0.0, 0.3, "0103", "0102", "待核查", "无审批，非建设用地，可能为伪变化"),
        ("410184202405009", 12, 4, 0.45, 0.5, "0103", "新规许字〔2024〕021号", "疑似违法", "超出批准红线"),
    ]
    out = []
    for jcbh, i, j, shift, s, before, after, expected, note in specs:
        after = permit_use.get(after, after)
        cx, cy = x0 + (i + 0.5 + shift) * BLOCK, y0 + (j + 0.5) * BLOCK
        h = s * (BLOCK - 2 * ROAD) / 2
        out.append(feature({"JCBH": jcbh, "XZQDM": "410184", "QSX": "2024-01-01", "HSX": "2024-05-01",
                            "land_class_before": before, "land_class_after": after,
                            "expected": expected, "expected_reason": note}, "Polygon",
                           rect(cx - h, cy - h, cx + h, cy + h)))
    return out


if __name__ == "__main__":
    main()
