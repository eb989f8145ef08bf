"""A recolored photo and its one JSON shape, shared by the HTTP API, the page and the command line."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from app import filenames, pipeline


@dataclass(frozen=True)
class Recolored:
    """A photo recolored with some options: the prepared photo, what was asked and what came out."""

    prepared: pipeline.Prepared
    options: pipeline.Options
    rendered: pipeline.Rendered
    stem: str  # the photo's name without suffix, for download names
    decoded_here: bool = True  # False when the photo came from the cache: its decoding is not counted

    @property
    def filename(self) -> str:
        return filenames.result_name(self.stem, self.options.k, self.options.fmt)

    @property
    def colors(self) -> int:
        return len(self.rendered.result.palette)

    def as_json(self) -> dict[str, Any]:
        """The figures: palette, PSNR and mean CIEDE2000, sizes, options and timings."""
        result = self.rendered.result
        decoded = self.prepared.decoded
        rendered = self.rendered
        options = self.options
        return {
            "filename": self.filename,
            "width": rendered.width,
            "height": rendered.height,
            "k": options.k,
            **pipeline.fit_summary(result),  # the shape POST /api/palettes answers too
            "original": {
                "width": decoded.width,
                "height": decoded.height,
                "pixels": decoded.width * decoded.height,
                "unique_colors": self.prepared.hist.unique_colors,
                "bytes": self.prepared.source_bytes,
                "format": decoded.source_format,
            },
            "result": {"bytes": len(rendered.data), "format": options.fmt, "bit_depth": rendered.bit_depth,
                       "full_resolution": (rendered.width, rendered.height) == (decoded.width, decoded.height)},
            "options": {"color_space": options.color_space, "dither": options.dither, "method": options.method,
                        "min_region": options.min_region},
            # With min_region, palette, shares, PSNR and delta_e are those of the cleaned image.
            "regions": None if rendered.regions is None else {"before": rendered.regions.before,
                                                              "after": rendered.regions.after},
            # Decoding is counted only where it actually happened.
            "timings": {**(self.prepared.timings if self.decoded_here else {}), **rendered.timings},
        }

    def as_answer(self, image_id: str | None) -> dict[str, Any]:
        """The API's JSON answer: the figures, the image as a data URL and the token to send back."""
        data = base64.b64encode(self.rendered.data).decode("ascii")
        return {"image": f"data:{self.rendered.mime_type};base64,{data}", "image_id": image_id, **self.as_json()}


def recolor(prepared: pipeline.Prepared, options: pipeline.Options, stem: str, decoded_here: bool = True) -> Recolored:
    return Recolored(prepared, options, pipeline.render(prepared, options), stem, decoded_here)
