"""The OpenAPI 3.1 document of the HTTP API, built from the live settings."""

from __future__ import annotations

from typing import Any, Mapping

ERROR = {"$ref": "#/components/schemas/Error"}


def _error_responses(*statuses: int) -> dict[str, Any]:
    words = {400: "A missing or bad field", 410: "image_id is no longer kept; send the image again",
             413: "Upload or image too large", 415: "Not a supported image", 422: "An image that cannot be used"}
    return {str(s): {"description": words[s], "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def openapi_document(config: Mapping[str, Any]) -> dict[str, Any]:
    max_k = int(config["MAX_K"])
    image_fields = {
        "image": {"type": "string", "format": "binary", "description": "The photo: JPEG, PNG, WebP, GIF, BMP or TIFF."},
        "image_id": {"type": "string", "description": "Instead of image: the image_id of an earlier answer."},
        "k": {"type": "integer", "minimum": 2, "maximum": max_k, "default": config["DEFAULT_K"],
              "description": "Number of colors."},
        "color_space": {"type": "string", "enum": ["rgb", "oklab", "lab"], "default": "rgb",
                        "description": "Space the clustering measures distances in."},
        "dither": {"type": "string", "enum": ["none", "floyd-steinberg"], "default": "none"},
        "method": {"type": "string", "enum": ["kmeans", "mediancut", "octree"], "default": "kmeans"},
        "format": {"type": "string", "enum": ["png", "jpeg", "webp"], "default": "png",
                   "description": "png is paletted and exact; jpeg and webp add colors of their own."},
        "max_side": {"type": "integer", "minimum": 16,
                     "description": "Preview: shrink the result (nearest neighbor) so its longer side fits. "
                                    "The palette and figures stay those of the full image."},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "kmeans-filter", "version": "1.0.0",
                 "description": "Recolor a photo with the k colors that best characterize it, found by k-means."},
        "paths": {
            "/api/quantize": {
                "post": {
                    "summary": "Quantize a photo to k colors",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "properties": image_fields}}}},
                    "responses": {
                        "200": {"description": "The result. Send Accept: application/json for the figures.",
                                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                                            "image/webp": {"schema": {"type": "string", "format": "binary"}},
                                            "application/json": {"schema": {"$ref": "#/components/schemas/Quantized"}}}},
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
                    "share": {"type": "number", "description": "Fraction of visible pixels."}}},
                "Quantized": {"type": "object", "properties": {
                    "image": {"type": "string", "description": "The result as a base64 data URL."},
                    "image_id": {"type": ["string", "null"], "description": "Send it back instead of the image."},
                    "filename": {"type": "string"},
                    "width": {"type": "integer"}, "height": {"type": "integer"},
                    "k": {"type": "integer"}, "colors": {"type": "integer"},
                    "palette": {"type": "array", "items": {"$ref": "#/components/schemas/Swatch"}},
                    "psnr": {"type": ["number", "null"], "description": "dB; null when identical."},
                    "delta_e": {"type": "number", "description": "Mean CIEDE2000 against the original."},
                    "original": {"type": "object"}, "result": {"type": "object"},
                    "options": {"type": "object"}, "timings": {"type": "object"}}},
            }
        },
    }
