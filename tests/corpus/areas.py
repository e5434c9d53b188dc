#!/usr/bin/python3
"""Ellipsoidal areas by PROJ (pyproj's Geod: GeographicLib's polygon area) of the polygons in a
GeoJSON FeatureCollection on standard input (as GDAL's ogr2ogr writes a file), on the CGCS2000
ellipsoid. Prints JSON: {name: area_m2} keyed by the property named in argv[1].
"""
import json
import sys

from pyproj import Geod

key = sys.argv[1]
geod = Geod(a=6378137.0, f=1 / 298.257222101)  # CGCS2000


def ring_area(ring):
    lons = [c[0] for c in ring]
    lats = [c[1] for c in ring]
    area, _ = geod.polygon_area_perimeter(lons, lats)
    return abs(area)


def polygon_area(rings):
    return ring_area(rings[0]) - sum(ring_area(r) for r in rings[1:])


out = {}
for f in json.load(sys.stdin)["features"]:
    g = f["geometry"]
    polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    out[f["properties"][key]] = sum(polygon_area(p) for p in polygons)
print(json.dumps(out, ensure_ascii=False))
