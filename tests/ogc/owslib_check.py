#!/usr/bin/python3
"""A real OGC client against a running onemap: OWSLib's OGCAPIFeatures (Debian python3-owslib).

    owslib_check.py BASE_URL BBOX SCHEMA

Lists the collections, reads every collection's items inside BBOX page by page to the end (50 a
page, following OWSLib's offset/limit), validates every items response against the OGC API -
Features core FeatureCollection schema (python3-jsonschema), and prints JSON: per collection the
feature ids read, numberMatched, pages, and any schema errors.
"""
import json
import sys

import jsonschema
from owslib.ogcapi.features import Features

base, bbox, schema_path = sys.argv[1], [float(v) for v in sys.argv[2].split(",")], sys.argv[3]
schema = json.load(open(schema_path))
validator = jsonschema.Draft202012Validator(schema)
api = Features(base)
out = {"conformance": api.conformance().get("conformsTo", []), "collections": {}}
for c in api.collections()["collections"]:
    cid = c["id"]
    ids, pages, matched, errors = [], 0, None, []
    offset = 0
    while True:
        page = api.collection_items(cid, bbox=bbox, limit=50, offset=offset)
        errors += [f"page {pages}: {e.message}" for e in validator.iter_errors(page)]
        pages += 1
        matched = page.get("numberMatched")
        ids += [f["id"] for f in page["features"]]
        if not page["features"] or not any(l.get("rel") == "next" for l in page.get("links", [])):
            break
        offset += 50
        if pages > 1000:
            errors.append("more than 1000 pages")
            break
    out["collections"][cid] = {"ids": ids, "pages": pages, "numberMatched": matched, "errors": errors[:5]}
print(json.dumps(out))
