"""Reading small images without extra dependencies, and resizing them with numpy.

PNG (8/16-bit, grey, grey+alpha, RGB, RGBA, palette; not interlaced) and PGM/PPM are decoded here; any other format
(JPEG, BMP, ...) goes through Pillow when it is installed. Everything returns float32 arrays in [0, 1], shaped
(C, H, W) with C = 1 (grey) or 3 (RGB); alpha is dropped.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

BUILTIN_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm")
PILLOW_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    pass


#: The most pixels an image may have, checked from its header before anything is decoded: Pillow's own
#: decompression-bomb limit (89,478,485 pixels, ~0.25 GiB of RGB). A 69-byte PNG claiming 100000 x 100000 pixels
#: ended in a bare MemoryError before; HYBRID_STUDIO_MAX_IMAGE_PIXELS raises the limit.
MAX_IMAGE_PIXELS = 89_478_485


def max_image_pixels() -> int:
    import os
    try:
        return int(os.environ.get("HYBRID_STUDIO_MAX_IMAGE_PIXELS") or MAX_IMAGE_PIXELS)
    except ValueError:
        return MAX_IMAGE_PIXELS


def check_pixels(width: int, height: int) -> None:
    """Refuse an image whose header claims more pixels than ``max_image_pixels()``, before decoding it."""
    limit = max_image_pixels()
    if width * height > limit:
        raise ImageReadError(f"the image claims {width} x {height} = {width * height:,} pixels, more than the "
                             f"{limit:,} allowed (a decompression bomb, or an image far larger than a model reads); "
                             f"set HYBRID_STUDIO_MAX_IMAGE_PIXELS to read it anyway")


def read_image(path) -> np.ndarray:
    """The image at ``path`` as float32 (C, H, W) in [0, 1]; raises ImageReadError naming the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            return _read_png(path.read_bytes())
        if suffix in (".pgm", ".ppm", ".pnm"):
            return _read_pnm(path.read_bytes())
        return _read_with_pillow(path)
    except ImageReadError as e:
        raise ImageReadError(f"{path}: {e}") from None
    except (OSError, zlib.error, struct.error, ValueError, IndexError) as e:
        raise ImageReadError(f"{path}: cannot read the image ({e})") from None


def _read_with_pillow(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise ImageReadError(f"'{path.suffix}' images need Pillow (pip install pillow); PNG, PGM and PPM work "
                             f"without it") from None
    with Image.open(path) as im:  # opening reads only the header
        check_pixels(*im.size)
        im = im.convert("L" if im.mode in ("1", "L", "I", "I;16", "F", "LA") else "RGB")
        a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy()


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _read_png(data: bytes) -> np.ndarray:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ImageReadError("not a PNG file")
    pos = 8
    idat = []
    palette = None
    width = height = depth = ctype = interlace = None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"PLTE":
            palette = np.frombuffer(chunk, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    if width is None:
        raise ImageReadError("PNG without a header")
    check_pixels(width, height)
    if interlace:
        raise ImageReadError("interlaced PNGs are not supported without Pillow (pip install pillow)")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if channels is None or depth not in (8, 16) and not (ctype in (0, 3) and depth in (1, 2, 4)):
        raise ImageReadError(f"unsupported PNG colour type {ctype} / bit depth {depth}")
    raw = zlib.decompress(b"".join(idat))
    bits_pp = channels * depth
    bpp = max(1, bits_pp // 8)
    stride = (width * bits_pp + 7) // 8
    out = bytearray(height * stride)
    prev = bytearray(stride)
    i = 0
    for row in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if ftype == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 0xFF
        elif ftype == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 0xFF
        elif ftype == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif ftype == 4:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                upleft = prev[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + _paeth(left, prev[x], upleft)) & 0xFF
        elif ftype != 0:
            raise ImageReadError(f"bad PNG filter type {ftype}")
        out[row * stride:(row + 1) * stride] = line
        prev = line
    buf = np.frombuffer(bytes(out), np.uint8).reshape(height, stride)
    if depth < 8:
        bits = np.unpackbits(buf, axis=1)[:, :width * depth].reshape(height, width, depth)
        vals = (bits * (1 << np.arange(depth - 1, -1, -1))).sum(-1).astype(np.uint8)
        pix = vals[..., None]
        maxv = (1 << depth) - 1
    elif depth == 16:
        pix = buf.view(">u2").reshape(height, width, channels).astype(np.float32)
        maxv = 65535
    else:
        pix = buf.reshape(height, width, channels)
        maxv = 255
    if ctype == 3:
        if palette is None:
            raise ImageReadError("palette PNG without a palette")
        rgb = palette[pix[..., 0].astype(np.intp)].astype(np.float32) / 255.0
        return rgb.transpose(2, 0, 1).copy()
    a = pix.astype(np.float32) / maxv
    if ctype in (0, 4):
        return a[..., :1].transpose(2, 0, 1).copy()
    return a[..., :3].transpose(2, 0, 1).copy()


def _read_pnm(data: bytes) -> np.ndarray:
    magic = data[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise ImageReadError("not a PGM/PPM file")
    # Header: magic, width, height, maxval, separated by whitespace, with # comments.
    tokens, pos = [], 2
    while len(tokens) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while data[pos:pos + 1] not in (b"\n", b""):
                pos += 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(int(data[start:pos]))
    width, height, maxv = tokens
    check_pixels(width, height)
    channels = 3 if magic in (b"P3", b"P6") else 1
    if magic in (b"P5", b"P6"):
        pos += 1
        dtype = np.dtype(">u2") if maxv > 255 else np.dtype(np.uint8)
        pix = np.frombuffer(data, dtype, count=width * height * channels, offset=pos)
    else:
        pix = np.array(data[pos:].split()[:width * height * channels], dtype=np.float64)
    a = pix.astype(np.float32).reshape(height, width, channels) / maxv
    return a.transpose(2, 0, 1).copy()


def write_png(path, image: np.ndarray) -> None:
    """Write an (H, W) or (C, H, W) array in [0, 1] (C = 1 or 3) as an 8-bit PNG (for tests and previews)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    px = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = px.shape[:2]
    ctype = 0 if px.ndim == 2 else 2
    rows = px.reshape(h, -1)
    raw = b"".join(b"\x00" + rows[r].tobytes() for r in range(h))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    Path(path).write_bytes(data)


def interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation weights, pixel centres aligned (like align_corners=False)."""
    m = np.zeros((n_out, n_in), np.float32)
    if n_in == 1:
        m[:, 0] = 1
        return m
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (pos - lo).astype(np.float32)
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of (..., H, W) arrays to (..., height, width)."""
    h, w = images.shape[-2:]
    if (h, w) == (height, width):
        return images.astype(np.float32, copy=False)
    mh, mw = interp_matrix(height, h), interp_matrix(width, w)
    return np.einsum("ih,...hw,jw->...ij", mh, images.astype(np.float32), mw, optimize=True)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(C, H, W) -> (channels, H, W): grey from RGB by luminance, RGB from grey by repetition."""
    c = image.shape[0]
    if c == channels:
        return image
    if channels == 1:
        return (image[:3] * np.array([0.299, 0.587, 0.114], np.float32)[:, None, None]).sum(0, keepdims=True)
    if c == 1:
        return np.repeat(image, channels, axis=0)
    raise ImageReadError(f"cannot turn a {c}-channel image into {channels} channels")
