#!/usr/bin/python3
"""A real desktop GIS against a running onemap: QGIS (Debian python3-qgis, headless).

    qgis_check.py BASE_URL COLLECTION [COLLECTION ...]

For each collection: adds it through QGIS's OGC API - Features provider ("OAPIF", the one
QGIS's "Add WFS / OGC API - Features layer" dialog uses), reads every feature, and adds the
collection's vector tiles through QGIS's XYZ vector tile provider and renders them to an image
(Web Mercator, the collection's extent, 256x256) to count the pixels painted. Prints JSON: per
collection whether the layer is valid, its feature count as the provider reports it, its field
names, every feature read (its attributes), its extent in lon/lat, and the painted pixel count.
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402  (QT_QPA_PLATFORM must be set first)
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsVectorLayer,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize, Qt  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

base, collections = sys.argv[1], sys.argv[2:]
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()


def plain(v):
    """A QGIS attribute value as JSON: NULL as null, dates as ISO 8601 text."""
    if v is None or (hasattr(v, "isNull") and v.isNull()):
        return None
    if hasattr(v, "toString"):
        return v.toString(Qt.ISODate)
    return v


def painted(layer, extent_3857):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setBackgroundColor(QColor(255, 255, 255, 0))
    settings.setOutputSize(QSize(256, 256))
    settings.setExtent(extent_3857)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            if QColor.fromRgba(image.pixel(x, y)).alpha() > 0:
                count += 1
    return count, [e for e in job.errors()]


out = {"collections": {}}
for cid in collections:
    r = {}
    uri = f"url='{base}' typename='{cid}' restrictToRequestBBOX='0'"
    layer = QgsVectorLayer(uri, cid, "OAPIF")
    r["valid"] = layer.isValid()
    if not layer.isValid():
        r["error"] = layer.dataProvider().error().summary() if layer.dataProvider() else "no provider"
        out["collections"][cid] = r
        continue
    r["fields"] = [f.name() for f in layer.fields()]
    rows = []
    for f in layer.getFeatures():
        rows.append({name: plain(f[name]) for name in r["fields"]})
    r["rows"] = rows
    r["featureCount"] = layer.featureCount()
    e = layer.extent()
    r["extent"] = [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()]
    to_3857 = QgsCoordinateTransform(
        layer.crs(), QgsCoordinateReferenceSystem("EPSG:3857"), QgsProject.instance()
    )
    extent_3857 = to_3857.transformBoundingBox(e)
    tiles = QgsVectorTileLayer(
        f"type=xyz&url={base}/tiles/{cid}/{{z}}/{{x}}/{{y}}.mvt&zmin=0&zmax=16", f"{cid} tiles"
    )
    r["tilesValid"] = tiles.isValid()
    if tiles.isValid():
        r["painted"], r["renderErrors"] = painted(tiles, extent_3857)
    out["collections"][cid] = r
print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
# Leave without QGIS's teardown: app.exitQgis() in a headless script can crash in Qt's
# destructors, which would turn a good run into a failed process.
os._exit(0)
