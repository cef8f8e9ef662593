"""The README's picture: the stepper as a student sees it after pressing →
nine times, the backward pass at dlogits. Real Chromium, real server.

Saved to artifacts/screenshots/docs_stepper.png on every run; with
BPN_WRITE_DOCS=1 also to docs/stepper.png, the file the README shows.

1366x900, not 1280x800: at 1280 px the graph is wider than its panel and
scrolls C, emb and Xb out of the picture. The PNG is stored with a
256-colour palette (~80 KB instead of Chromium's ~240 KB of RGB): a page of
flat colours and anti-aliased text loses nothing visible."""
from __future__ import annotations

import base64
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from pagekit import graph_labels, open_view, parse_badge, state, status, wait_drawn

DOCS = Path(__file__).resolve().parents[2] / "docs"
SIZE = {"width": 1366, "height": 900}
# the backward order's first nine nodes: loss, logprobs, probs, counts_sum_inv,
# counts_sum, counts, norm_logits, logit_maxes, logits
DLOGITS_POS = 9
SHOWN = "(k) => document.getElementById('inspector').dataset.renderedKey === k"
HEATMAP_DRAWN = "(sel) => document.querySelector(`${sel} .heatmaplayer image`) !== null"
# the backward order's tape has come to rest with the current chip in its middle (it scrolls smoothly)
TAPE_AT_REST = """() => { const t = document.querySelector('[data-testid=tape]'); const c = t.querySelector('.chip.current');
  if (!c) return false;
  const want = Math.min(Math.max(0, c.offsetLeft - t.clientWidth / 2), t.scrollWidth - t.clientWidth);
  return Math.abs(t.scrollLeft - want) < 1; }"""
# a PNG's pixels as RGBA bytes (base64), decoded by the browser that made it
PIXELS = """async (png) => {
  const img = new Image(); img.src = 'data:image/png;base64,' + png; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let s = ''; for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));
  return btoa(s);
}"""


def palette_png(rgb: np.ndarray, colours: int = 256) -> bytes:
    """An 8-bit indexed PNG of an (h, w, 3) image: the most used colours, then
    those worst served so far (anti-aliasing, colour scales), each pixel the
    nearest."""
    h, w, _ = rgb.shape
    px = rgb.astype(np.int64)
    keys, inverse, counts = np.unique((px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2],
                                      return_inverse=True, return_counts=True)
    unique = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], -1)
    chosen = list(np.argsort(-counts)[: colours // 2])
    worst = ((unique[:, None, :] - unique[chosen][None]) ** 2).sum(-1).min(1)
    while len(chosen) < min(colours, len(unique)):
        i = int(np.argmax(worst * np.sqrt(counts)))
        chosen.append(i)
        worst = np.minimum(worst, ((unique - unique[i]) ** 2).sum(-1))
    palette = unique[chosen]
    nearest = np.stack([((unique - p) ** 2).sum(-1) for p in palette], 1).argmin(1)
    index = nearest[inverse.ravel()].reshape(h, w).astype(np.uint8)
    rows = np.hstack([np.zeros((h, 1), np.uint8), index]).tobytes()  # filter 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", palette.astype(np.uint8).tobytes()) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def test_stepper_at_dlogits_for_the_readme(page, live_server, shots):
    page.set_viewport_size(SIZE)
    open_view(page, live_server)  # a fresh session: a batch drawn, no gradient yet
    assert state(page, "computed") == []
    for _ in range(DLOGITS_POS):
        page.keyboard.press("ArrowRight")
    wait_drawn(page, DLOGITS_POS)
    page.wait_for_function(SHOWN, arg="logits:g")
    page.wait_for_function(HEATMAP_DRAWN, arg="[data-plot=dlogits]")  # drawn after the graph's paint

    # what the picture shows: the pass at dlogits, checked against autograd
    assert state(page, "computed")[-1] == "logits"
    assert status(page, "pos") == f"{DLOGITS_POS}/27" and status(page, "next") == "dh"
    assert page.get_by_test_id("inspector-title").inner_text() == "logits"
    assert page.get_by_test_id("backward-line").inner_text().startswith("dlogits = ")
    assert parse_badge(page.get_by_test_id("inspector-badge").inner_text())[0] in ("exact", "approx")
    assert len(graph_labels(page)) == 29  # every node, C and Xb on the left included
    assert page.evaluate("() => { const s = document.querySelector('[data-testid=graph-scroll]');"
                         " return s.scrollWidth <= s.clientWidth; }")
    # the inspector's gradient is dlogits, batch x vocabulary, drawn as a heatmap
    grad = state(page, "tensor")["grad"]
    assert len(grad) == 32 and len(grad[0]) == len(state(page, "session")["vocab"]) == 27
    assert page.evaluate("() => document.querySelector('[data-plot=grad]').data[0].type") == "heatmap"
    page.wait_for_function(HEATMAP_DRAWN, arg="[data-plot=grad]")
    assert page.get_by_test_id("plot-dlogits").is_visible()
    assert page.evaluate("() => window.scrollY") == 0

    page.mouse.move(0, 0)  # no hover label in the picture
    page.wait_for_function(TAPE_AT_REST)
    rgba = np.frombuffer(base64.b64decode(page.evaluate(PIXELS, base64.b64encode(page.screenshot()).decode())),
                         np.uint8).reshape(SIZE["height"], SIZE["width"], 4)
    png = palette_png(rgba[..., :3])
    (shots / "docs_stepper.png").write_bytes(png)
    assert len(png) < 150_000, f"the README's screenshot is {len(png):,} bytes"
    if os.environ.get("BPN_WRITE_DOCS") == "1":
        (DOCS / "stepper.png").write_bytes(png)
