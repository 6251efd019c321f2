"""2D finishing of rendered pictures with Pillow: colour bars, labels, grids, files.

Images are ``(H, W, 3) uint8`` arrays throughout. Files are written atomically
(:mod:`sdfrecon.base.atomic`), PNG for stills and GIF for sequences.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np

from sdfrecon.base.atomic import atomic_write_bytes
from sdfrecon.viewer.colormap import colormap

BAR_PANEL_WIDTH = 90
"""Width in pixels of the panel holding one colour bar."""

TEXT_RGB = (30, 30, 30)


def font(size: int = 13):
    """Pillow's bundled scalable font at ``size`` pixels (bitmap default on old Pillow)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def format_value(value: float) -> str:
    """Compact label of a colour-bar end: 4 significant digits, no trailing zeros."""
    return "0" if value == 0 else f"{value:.4g}"


def colorbar_panel(bar, height: int, width: int = BAR_PANEL_WIDTH) -> np.ndarray:
    """A white panel with a vertical colour bar, its max at the top, min at the bottom.

    Parameters
    ----------
    bar : viewer.scene.ColorBar
    height, width : int
        Panel size, pixels.

    Returns
    -------
    (height, width, 3) uint8 ndarray
        The bar occupies columns ``[12, 32)`` and the rows :func:`colorbar_rows`
        gives (below the title); row ``r`` of the bar shows the map at
        ``(bottom - r) / (bottom - top)``.
    """
    from PIL import Image, ImageDraw

    panel = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    small = font(12)
    _draw_wrapped(draw, bar.title, (6, 6), width - 8, small)
    top, bottom = colorbar_rows(bar, height, width)
    t = (bottom - np.arange(top, bottom + 1)) / max(bottom - top, 1)
    strip = (colormap(t, bar.colormap) * 255.0 + 0.5).astype(np.uint8)
    column = np.repeat(strip[:, None, :], 20, axis=1)
    panel.paste(Image.fromarray(column), (12, top))
    draw.text((36, top - 6), format_value(bar.vmax), fill=TEXT_RGB, font=small)
    draw.text((36, bottom - 8), format_value(bar.vmin), fill=TEXT_RGB, font=small)
    return np.asarray(panel)


def bar_rows(height: int) -> tuple[int, int]:
    """First and last image rows of the colour bar in a panel ``height`` pixels tall (short titles)."""
    return int(round(0.18 * height)), int(round(0.88 * height)) - 1


def colorbar_rows(bar, height: int, width: int = BAR_PANEL_WIDTH) -> tuple[int, int]:
    """First and last rows of ``bar``'s strip in its panel: :func:`bar_rows`, moved down below a
    title that wraps onto more lines than the panel's top leaves room for."""
    from PIL import Image, ImageDraw

    top, bottom = bar_rows(height)
    probe = ImageDraw.Draw(Image.new("RGB", (width, max(height, 1))))
    text = "\n".join(_wrap(probe, bar.title, width - 8, font(12)))
    title_bottom = probe.multiline_textbbox((6, 6), text, font=font(12), spacing=2)[3]
    top = max(top, int(title_bottom) + 12)
    return min(top, bottom - 8), bottom


def with_colorbars(image: np.ndarray, bars: Sequence, panel_width: int = BAR_PANEL_WIDTH) -> np.ndarray:
    """``image`` with one colour-bar panel per bar appended on its right."""
    if not bars:
        return image
    panels = [colorbar_panel(b, image.shape[0], panel_width) for b in bars]
    return np.concatenate([image, *panels], axis=1)


def label(image: np.ndarray, text: str, *, size: int = 14, corner: str = "top-left") -> np.ndarray:
    """``image`` with ``text`` written in a corner (top-left or bottom-left)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(img)
    y = 4 if corner == "top-left" else image.shape[0] - size - 6
    draw.text((6, y), text, fill=TEXT_RGB, font=font(size))
    return np.asarray(img)


def grid(cells: Sequence[Sequence[np.ndarray | None]], *, row_labels: Sequence[str] = (),
         col_labels: Sequence[str] = (), cell_size: tuple[int, int] | None = None,
         missing_text: str = "missing") -> np.ndarray:
    """Arrange images in rows and columns with labels on the left and on top.

    Parameters
    ----------
    cells : rows of images (H, W, 3) uint8, or None for an empty cell
    row_labels, col_labels : str
        Written left of each row / above each column (may be empty).
    cell_size : (width, height), optional
        Size of every cell; default the size of the first image.
    missing_text : str
        Written in empty cells.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    from PIL import Image, ImageDraw

    if cell_size is None:
        first = next(c for row in cells for c in row if c is not None)
        cell_size = (first.shape[1], first.shape[0])
    cw, ch = cell_size
    n_rows, n_cols = len(cells), max(len(r) for r in cells)
    f = font(14)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = (max((probe.textlength(t, font=f) for t in row_labels), default=0) + 16) if row_labels else 0
    top = 26 if col_labels else 0
    sheet = Image.new("RGB", (int(left) + n_cols * cw, top + n_rows * ch), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for j, text in enumerate(col_labels):
        x = int(left) + j * cw + (cw - probe.textlength(text, font=f)) / 2
        draw.text((x, 5), text, fill=TEXT_RGB, font=f)
    for i, row in enumerate(cells):
        y0 = top + i * ch
        if i < len(row_labels):
            draw.text((8, y0 + ch / 2 - 8), row_labels[i], fill=TEXT_RGB, font=f)
        for j in range(n_cols):
            x0 = int(left) + j * cw
            cell = row[j] if j < len(row) else None
            if cell is None:
                draw.text((x0 + 10, y0 + ch / 2 - 8), missing_text, fill=(150, 150, 150), font=f)
            else:
                sheet.paste(Image.fromarray(np.ascontiguousarray(cell)).resize((cw, ch)), (x0, y0))
            draw.rectangle((x0, y0, x0 + cw - 1, y0 + ch - 1), outline=(220, 220, 220))
    return np.asarray(sheet)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an (H, W, 3) uint8 image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write ``image`` as PNG to ``path`` atomically."""
    return atomic_write_bytes(path, png_bytes(image))


def save_gif(frames: Sequence[np.ndarray], path: str | Path, *, seconds_per_frame: float = 0.1) -> Path:
    """Write ``frames`` as a looping animated GIF, atomically."""
    from PIL import Image

    if not frames:
        raise ValueError("an animation needs at least one frame")
    images = [Image.fromarray(np.ascontiguousarray(f)).convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
              for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(seconds_per_frame * 1000)), disposal=2)
    return atomic_write_bytes(path, buf.getvalue())


def _wrap(draw, text: str, width: int, f) -> list[str]:
    """Lines of ``text`` broken at spaces to fit ``width`` pixels."""
    lines, line = [], ""
    for w in text.split():
        candidate = f"{line} {w}".strip()
        if line and draw.textlength(candidate, font=f) > width:
            lines.append(line)
            line = w
        else:
            line = candidate
    lines.append(line)
    return lines


def _draw_wrapped(draw, text: str, xy: tuple[int, int], width: int, f) -> None:
    draw.multiline_text(xy, "\n".join(_wrap(draw, text, width, f)), fill=TEXT_RGB, font=f, spacing=2)
