"""The OpenAPI 3.1 document of the HTTP API, built from the option table (app/options.py) and the live settings."""

from __future__ import annotations

from typing import Any, Mapping

from app import options
from app.paint_by_number import WORKING_SIDE

PHOTO_FIELDS = {
    "image": {"type": "string", "format": "binary", "description": "The photo: JPEG, PNG, WebP, GIF, BMP or TIFF."},
    "image_id": {"type": "string", "description": "Instead of image: the image_id of an earlier answer, which is the SHA-256 of the photo's bytes in hex."},
}
ERROR = {"$ref": "#/components/schemas/Error"}
PALETTE_FILE = {"$ref": "#/components/schemas/PaletteFile"}


def _error_responses(*statuses: int) -> dict[str, Any]:
    words = {400: "A missing or bad field", 410: "image_id is no longer kept; send the image again",
             413: "Upload or image too large", 415: "Not a supported image", 422: "An image that cannot be used"}
    return {str(s): {"description": words[s], "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def _form(endpoint: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint's form: the photo fields, then its options from app/options.py."""
    properties = {**PHOTO_FIELDS, **{option.name: option.schema(config) for option in options.ENDPOINTS[endpoint]}}
    return {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties}}}}


def openapi_document(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "kmeans-filter", "version": "1.0.0",
                 "description": "Recolor a photo with the k colors that best characterize it, found by k-means."},
        "paths": {
            "/api/quantize": {
                "post": {
                    "summary": "Quantize a photo to k colors",
                    "requestBody": _form("/api/quantize", config),
                    "responses": {
                        "200": {"description": "The result. Send Accept: application/json for the figures.",
                                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                                            "image/webp": {"schema": {"type": "string", "format": "binary"}},
                                            "application/json": {"schema": {"$ref": "#/components/schemas/Recolored"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/api/curve": {
                "post": {
                    "summary": "Estimate PSNR and mean CIEDE2000 at every k from 2 to 32, and suggest k",
                    "description": "An estimate from the photo's color histogram in 5-bit bins, fast enough to "
                                   "draw at once; the exact figures for a chosen k come from /api/quantize. "
                                   "suggested_k is the knee of PSNR against k (Kneedle), or the first k that "
                                   "reproduces the photo exactly.",
                    "requestBody": _form("/api/curve", config),
                    "responses": {
                        "200": {"description": "The curve.",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Curve"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/api/contact-sheet": {
                "post": {
                    "summary": "One PNG grid of the photo at several k, the original first, each tile labelled",
                    "requestBody": _form("/api/contact-sheet", config),
                    "responses": {
                        "200": {"description": "The sheet, as an attachment named <photo>-contact-sheet.png.",
                                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/api/palette": {
                "post": {
                    "summary": "The palette as a file: JSON, CSS custom properties, a GIMP palette or a PNG strip",
                    "description": "The same palette, in the same order (by share, largest first), as "
                                   "/api/quantize reports for the same photo, k, color_space, dither and method.",
                    "requestBody": _form("/api/palette", config),
                    "responses": {
                        "200": {"description": "The file, as an attachment named <photo>-k<k>-palette.<format>.",
                                "content": {"application/json": {"schema": PALETTE_FILE},
                                            "text/css": {"schema": {"type": "string"}},
                                            "application/x-gimp-palette": {"schema": {"type": "string"}},
                                            "image/png": {"schema": {"type": "string", "format": "binary"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/api/palettes": {
                "post": {
                    "summary": "The palettes of a photo for many k at once: the page's slider draws its preview from them",
                    "description": "For each k, exactly the colors, palette, psnr and delta_e that /api/quantize "
                                   "answers for the same photo, k and color_space with method kmeans and no "
                                   "dithering. Palettes found once are kept with the photo, so asking again, or "
                                   "asking /api/quantize by image_id, costs no clustering.",
                    "requestBody": _form("/api/palettes", config),
                    "responses": {
                        "200": {"description": "The palettes.",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ladder"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/api/paint-by-number": {
                "post": {
                    "summary": "A printable paint-by-number template: outlines, numbers and a legend",
                    "description": f"Made at a working size of {WORKING_SIDE} px on the longer side: the photo is "
                                   "resized, recolored and cleaned there as /api/quantize would. Each region "
                                   "carries its palette number (1 = largest share) where it has the most room. "
                                   "The SVG has a hidden 'colors' layer with the regions filled in.",
                    "requestBody": _form("/api/paint-by-number", config),
                    "responses": {
                        "200": {"description": "The template, as an attachment named "
                                               "<photo>-k<k>-paint-by-number.<format>; X-Colors and X-Regions "
                                               "count its colors and regions.",
                                "content": {"image/svg+xml": {"schema": {"type": "string"}},
                                            "image/png": {"schema": {"type": "string", "format": "binary"}}}},
                        **_error_responses(400, 410, 413, 415, 422),
                    },
                }
            },
            "/healthz": {"get": {"summary": "Health check", "responses": {"200": {"description": "Serving"}}}},
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Swatch": {"type": "object", "properties": {
                    "hex": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
                    "share": {"type": ["number", "null"], "description": "Fraction of visible pixels; null in a "
                              "palette /api/palettes answered early (figures false)."}}},
                "Curve": {"type": "object", "required": ["points", "suggested_k", "image_id"], "properties": {
                    "points": {"type": "array", "minItems": 31, "maxItems": 31, "items": {
                        "type": "object", "required": ["k", "psnr", "delta_e"], "properties": {
                            "k": {"type": "integer", "minimum": 2, "maximum": 32},
                            "psnr": {"type": ["number", "null"], "description": "dB, estimated; null when exact."},
                            "delta_e": {"type": "number", "description": "Mean CIEDE2000, estimated."}}}},
                    "suggested_k": {"type": "integer", "minimum": 2, "maximum": 32},
                    "image_id": {"type": ["string", "null"], "description": "Send it back instead of the image."}}},
                "Ladder": {"type": "object", "required": ["image_id", "color_space", "width", "height", "palettes"],
                           "properties": {
                    "image_id": {"type": ["string", "null"], "description": "Send it back instead of the image."},
                    "color_space": {"type": "string", "enum": ["rgb", "oklab", "lab"]},
                    "width": {"type": "integer", "description": "The photo's width, upright."},
                    "height": {"type": "integer"},
                    "unique_colors": {"type": "integer"},
                    "bytes": {"type": "integer", "description": "Size of the photo as uploaded."},
                    "palettes": {"type": "array", "items": {"type": "object",
                                 "required": ["k", "colors", "palette", "psnr", "delta_e"], "properties": {
                        "k": {"type": "integer"}, "colors": {"type": "integer", "description": "At most k."},
                        "palette": {"type": "array", "items": {"$ref": "#/components/schemas/Swatch"}},
                        "psnr": {"type": ["number", "null"], "description": "dB; null when identical, or early."},
                        "delta_e": {"type": ["number", "null"], "description": "Mean CIEDE2000 against the original; "
                                    "null with delta_e=0 when not measured yet, or early."},
                        "figures": {"type": "boolean", "enum": [False], "description": "Only in a palette answered "
                                    "early (early=1): its final colors in no particular order, before its shares, "
                                    "psnr and delta_e are measured. Ask again for them."}}}},
                    "unfinished": {"type": "array", "items": {"type": "integer"},
                                   "description": "ks a background request left for later (empty otherwise)."},
                    "timings": {"type": "object", "description": "quantize_ms; found: palettes clustered now; "
                                                                 "early: palettes answered early; cached: palettes "
                                                                 "kept from before."}}},
                "PaletteFile": {"type": "object", "required": ["k", "colors"], "properties": {
                    "k": {"type": "integer"},
                    "colors": {"type": "array", "items": {"type": "object", "properties": {
                        "hex": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
                        "share": {"type": "number", "description": "Fraction of visible pixels."},
                        "rgb": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255},
                                "minItems": 3, "maxItems": 3}}}}}},
                "Recolored": {"type": "object", "properties": {
                    "image": {"type": "string", "description": "The result as a base64 data URL."},
                    "image_id": {"type": ["string", "null"], "description": "Send it back instead of the image."},
                    "filename": {"type": "string"},
                    "width": {"type": "integer"}, "height": {"type": "integer"},
                    "k": {"type": "integer"}, "colors": {"type": "integer"},
                    "palette": {"type": "array", "items": {"$ref": "#/components/schemas/Swatch"}},
                    "psnr": {"type": ["number", "null"], "description": "dB; null when identical."},
                    "delta_e": {"type": "number", "description": "Mean CIEDE2000 against the original."},
                    "original": {"type": "object"}, "result": {"type": "object"},
                    "options": {"type": "object"}, "timings": {"type": "object"},
                    "regions": {"type": ["object", "null"], "description": "With min_region: 4-connected regions "
                                "of one color before and after cleaning.", "properties": {
                                    "before": {"type": "integer"}, "after": {"type": "integer"}}}}},
            }
        },
    }
