"""Blinded reader study (seed 002, section 5.1.2 and Tables 2 and 4), made reproducible.

Seed 002 showed a dermatologist the Grad-CAM maps of four models per image and asked which model
"focuses on the most clinically relevant region"; the answers are a table in the paper. Here:

1. :func:`export_sheet` writes one self-contained HTML file (images inline as data URIs, no
   network, no model names) that shows, per image, the original and every model's map in an
   order shuffled independently per image from ``seed``, under labels A, B, C ... Readers pick
   the best map, comment, and download their answers as CSV. A JSON key beside the sheet maps
   the labels back to models: send readers the sheet only.
2. :func:`tally` un-blinds the CSV files with the key and counts the votes per model, overall and
   per reader, with Wilson score intervals.

Deviations from seed 002: the reader does not see model names or prediction probabilities (the
paper labelled the maps "Model 1..4" in a fixed order, which lets a reader learn which is which),
the order is shuffled per image, and several readers can take part.
"""

import base64
import csv
import html
import io
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib import colormaps
from PIL import Image

from medattn.errors import ConfigError
from medattn.explain.display import DisplayScale, to_rgb
from medattn.explain.figures import overlay
from medattn.io import write_json_atomic, write_text_atomic

SHEET_NAME = "reader_sheet.html"
KEY_NAME = "reader_key.json"
KEY_FORMAT = "medattn-reader-key/1"
ANSWER_COLUMNS = ("reader", "image_id", "choice", "comment")
DEFAULT_TITLE = "Which heat map highlights the most clinically relevant region?"


def png_data_uri(rgb: np.ndarray) -> str:
    """An [H, W, 3] image in [0, 1] as a ``data:image/png;base64,...`` URI."""
    pixels = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def json_for_script(data) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def shuffled_order(n_models: int, seed: int, index: int) -> list[int]:
    """Display order of the models for image ``index``: a permutation drawn from ``(seed, index)``.

    Each image gets its own independent stream, so adding images does not change earlier orders.
    """
    return [int(i) for i in np.random.default_rng([seed, index]).permutation(n_models)]


def _check_sheet_inputs(images, maps_by_model, image_ids, seed) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ConfigError(f"images must have shape [N, H, W, C] with C = 1 or 3, got {list(images.shape)}")
    if len(image_ids) != images.shape[0]:
        raise ConfigError(f"{len(image_ids)} image ids for {images.shape[0]} images")
    ids = [str(i) for i in image_ids]
    if len(set(ids)) != len(ids):
        raise ConfigError("image ids must be unique; the key and the answers refer to images by id")
    if not 2 <= len(maps_by_model) <= len(string.ascii_uppercase):
        raise ConfigError(f"a reader study compares 2 to 26 models, got {len(maps_by_model)}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"reader-study seed must be a non-negative integer, got {seed!r}")
    maps = {}
    for name, value in sorted(maps_by_model.items()):
        array = np.asarray(value, dtype=np.float32)
        if array.shape != images.shape[:3]:
            raise ConfigError(f"maps of model '{name}' have shape {list(array.shape)}, expected {images.shape[:3]}")
        maps[str(name)] = array
    return images, maps


def _case_html(k: int, image_id: str, original: str, panels: list[tuple[str, str]], small: bool) -> str:
    """One image: original, labelled maps, radio group ``choice-k`` and comment ``comment-k``."""
    eid = html.escape(image_id)
    figures = [f'<figure><img src="{original}" alt="original image"><figcaption>Original</figcaption></figure>']
    radios = []
    for label, uri in panels:
        figures.append(f'<figure><img src="{uri}" alt="map {label}"><figcaption>Map {label}</figcaption></figure>')
        radios.append(f'<label><input type="radio" name="choice-{k}" value="{label}"> {label}</label>')
    return (
        f'<section class="case" id="case-{k}"><h2>Image {k + 1}: <span class="id">{eid}</span></h2>'
        f'<div class="panels{" small" if small else ""}">{"".join(figures)}</div>'
        f"<fieldset><legend>Best map</legend>{''.join(radios)}</fieldset>"
        f'<label class="comment">Comment<textarea name="comment-{k}" rows="2"></textarea></label></section>'
    )


def _colour_bar(scale: DisplayScale) -> str:
    ramp = colormaps[scale.cmap](np.linspace(0, 1, 256))[None, :, :3].repeat(12, axis=0)
    low = "−1" if scale.signed else "0"
    return (
        f'<div class="bar"><span>{low}</span><img src="{png_data_uri(ramp)}" alt="colour scale"><span>1</span></div>'
        f'<p class="scale">{html.escape(scale.caption())} Map colours are blended over the image with an opacity '
        "that grows with the value's magnitude.</p>"
    )


def export_sheet(
    images,
    maps_by_model: Mapping[str, np.ndarray],
    out_dir: str | Path,
    *,
    image_ids: Sequence[str],
    seed: int,
    scale: DisplayScale,
    title: str = DEFAULT_TITLE,
    alpha: float = 0.5,
) -> tuple[Path, Path]:
    """Write the blinded reader sheet (HTML) and its key (JSON) into ``out_dir``.

    Args:
        images: [N, H, W, C] in [0, 1] (see :func:`~medattn.explain.display.denormalise`).
        maps_by_model: ``{model name: [N, H, W]}``, normalised together with ``scale``.
        out_dir: folder for ``reader_sheet.html`` and ``reader_key.json``.
        image_ids: one unique id per image (file names); shown to readers and used in answers.
        seed: the seed of the per-image shuffles; same seed, same sheet.
        scale: display normalisation of the maps, described on the sheet.
        title: heading and question shown to readers.
        alpha: overlay opacity of full-strength heat.

    Returns:
        ``(sheet_path, key_path)``.
    """
    images, maps = _check_sheet_inputs(images, maps_by_model, image_ids, seed)
    names = list(maps)
    labels = list(string.ascii_uppercase[: len(names)])
    cases, key = [], {}
    for k, image_id in enumerate(map(str, image_ids)):
        order = [names[i] for i in shuffled_order(len(names), int(seed), k)]
        panels = [
            (label, png_data_uri(overlay(images[k], maps[name][k], scale.cmap, alpha, signed=scale.signed)))
            for label, name in zip(labels, order, strict=True)
        ]
        # Small images are enlarged on screen: nearest-neighbour keeps their pixels sharp.
        small = images.shape[2] < 160
        cases.append(_case_html(k, image_id, png_data_uri(to_rgb(images[k])), panels, small))
        key[image_id] = dict(zip(labels, order, strict=True))
    page = _render_page(title, scale, cases, [str(i) for i in image_ids])
    record = {"format": KEY_FORMAT, "seed": int(seed), "title": title, "models": names, "sheet": SHEET_NAME}
    record |= {"scale": scale.to_dict(), "images": key}
    # The key first: a sheet must never exist without the key that un-blinds its answers.
    key_path = write_json_atomic(Path(out_dir) / KEY_NAME, record)
    return write_text_atomic(Path(out_dir) / SHEET_NAME, page), key_path


def _render_page(title: str, scale: DisplayScale, cases: list[str], image_ids: list[str]) -> str:
    # Data goes in through str.format arguments, so braces or placeholders inside it stay literal.
    return _PAGE.format(
        title=html.escape(title),
        css=_CSS,
        scale=_colour_bar(scale),
        cases="\n".join(cases),
        data=json_for_script({"image_ids": image_ids}),
        js=_JS,
    )


@dataclass(frozen=True)
class VoteTable:
    """Votes for each model among ``n`` answered images (abstentions excluded).

    ``ci`` holds Wilson score intervals, one model at a time: each vote is treated as an
    independent Bernoulli trial "this model was chosen", so the intervals are marginal (not
    simultaneous) and ignore that one reader's votes are correlated.
    """

    counts: dict[str, int]
    n: int
    proportions: dict[str, float]
    ci: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class TallyResult:
    """Un-blinded reader-study votes: overall and per reader, with Wilson intervals."""

    models: tuple[str, ...]
    overall: VoteTable
    per_reader: dict[str, VoteTable]
    abstentions: dict[str, int]
    confidence: float

    def to_rows(self) -> list[dict]:
        """Flat rows (reader ``"all"`` first) for a CSV file or a pandas DataFrame."""
        rows = []
        for reader, table in [("all", self.overall), *self.per_reader.items()]:
            for model in self.models:
                low, high = table.ci[model]
                rows.append(
                    dict(reader=reader, model=model, votes=table.counts[model], n=table.n)
                    | dict(proportion=table.proportions[model], ci_low=low, ci_high=high)
                )
        return rows


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); ``(nan, nan)`` when n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _vote_table(chosen: list[str], models: Sequence[str], confidence: float) -> VoteTable:
    counts = {model: chosen.count(model) for model in models}
    n = len(chosen)
    proportions = {model: counts[model] / n if n else float("nan") for model in models}
    ci = {model: wilson_interval(counts[model], n, confidence) for model in models}
    return VoteTable(counts, n, proportions, ci)


def _read_key(key_path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    try:
        key = json.loads(Path(key_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read reader-study key {key_path}: {error}") from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise ConfigError(f"{key_path} is not a reader-study key (expected format '{KEY_FORMAT}')")
    return list(key["models"]), key["images"]


def _read_answers(path: Path, images: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    """``(reader, image_id, model or "")`` per row of one answers CSV; row numbers count the header as 1."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            table = csv.DictReader(handle)
            header, rows = table.fieldnames or [], list(table)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ConfigError(f"cannot read answers {path}: {error}") from None
    missing = [column for column in ANSWER_COLUMNS[:3] if column not in header]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(ANSWER_COLUMNS)}")
    votes = []
    for number, row in enumerate(rows, start=2):
        reader, image_id, choice = ((row.get(c) or "").strip() for c in ANSWER_COLUMNS[:3])
        if not reader:
            raise ConfigError(f"{path}: row {number}: empty reader name")
        if image_id not in images:
            raise ConfigError(f"{path}: row {number}: unknown image id '{image_id}' (not in the key)")
        if choice and choice not in images[image_id]:
            raise ConfigError(f"{path}: row {number}: label '{choice}' is not in the key for image '{image_id}'")
        votes.append((reader, image_id, images[image_id].get(choice, "")))
    return votes


def tally(
    answers_csv: str | Path | Sequence[str | Path], key_path: str | Path, *, confidence: float = 0.95
) -> TallyResult:
    """Un-blind reader answers with the key and count the votes per model.

    Args:
        answers_csv: one answers CSV (columns reader, image_id, choice, comment) or several, e.g.
            one per reader. An empty choice is an abstention.
        key_path: the ``reader_key.json`` written by :func:`export_sheet`.
        confidence: level of the Wilson intervals.

    Returns:
        A :class:`TallyResult`.

    Raises:
        ConfigError: unreadable file, missing column, unknown image id or label, empty reader
            name, or one reader answering the same image twice (message names file and row).
    """
    paths = [answers_csv] if isinstance(answers_csv, str | Path) else list(answers_csv)
    models, images = _read_key(Path(key_path))
    seen: dict[tuple[str, str], str] = {}
    by_reader: dict[str, list[str]] = {}
    abstentions: dict[str, int] = {}
    for path in map(Path, paths):
        for reader, image_id, model in _read_answers(path, images):
            if (reader, image_id) in seen:
                where = seen[(reader, image_id)]
                raise ConfigError(f"{path}: reader '{reader}' answered image '{image_id}' twice (also in {where})")
            seen[(reader, image_id)] = str(path)
            by_reader.setdefault(reader, [])
            abstentions[reader] = abstentions.get(reader, 0) + (not model)
            if model:
                by_reader[reader].append(model)
    overall = _vote_table([m for chosen in by_reader.values() for m in chosen], models, confidence)
    per_reader = {reader: _vote_table(chosen, models, confidence) for reader, chosen in sorted(by_reader.items())}
    return TallyResult(tuple(models), overall, per_reader, dict(sorted(abstentions.items())), confidence)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<p>For each image, choose the map that highlights the most clinically relevant region, and add a comment if you wish.
The maps come from different models, shown in a new random order for every image. Leave an image unanswered to
abstain. When you are done, enter your name and download your answers; send that CSV file back.</p>
{scale}
<div class="toolbar"><label>Your name <input id="reader" type="text" autocomplete="name"></label>
<button type="button" id="download">Download answers (CSV)</button>
<span id="progress"></span> <span id="status" role="status"></span></div>
<form id="answers">
{cases}
</form>
<script type="application/json" id="study-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 75rem; padding: 0 1rem; color: #222; }
.toolbar { position: sticky; top: 0; z-index: 1; background: #fff; padding: .6rem 0; border-bottom: 1px solid #bbb; }
.toolbar button { margin: 0 1rem; }
.case { border-bottom: 1px solid #ddd; padding: 1rem 0; }
.id { font-family: ui-monospace, monospace; font-weight: normal; }
.panels { display: flex; flex-wrap: wrap; gap: .75rem; }
figure { margin: 0; text-align: center; }
figure img { display: block; width: 14rem; height: auto; border: 1px solid #999; }
.small figure img { image-rendering: pixelated; }
fieldset { margin-top: .6rem; border: 1px solid #ccc; }
fieldset label { margin-right: 1.5rem; font-size: 1.1rem; }
.comment { display: block; margin-top: .5rem; }
.comment textarea { display: block; width: 100%; max-width: 44rem; }
.bar { display: flex; align-items: center; gap: .5rem; }
.bar img { width: 16rem; height: 1rem; border: 1px solid #999; }
.scale { font-size: .9rem; color: #444; }
"""

_JS = """
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("study-data").textContent);
  const field = (value) => '"' + String(value).replace(/"/g, '""') + '"';
  const readerName = () => document.getElementById("reader").value.trim();
  function answers() {
    return data.image_ids.map((id, k) => {
      const checked = document.querySelector('input[name="choice-' + k + '"]:checked');
      const comment = document.querySelector('textarea[name="comment-' + k + '"]').value;
      return [readerName(), id, checked ? checked.value : "", comment];
    });
  }
  window.answersCsv = function () {
    const rows = [["reader", "image_id", "choice", "comment"], ...answers()];
    return rows.map((row) => row.map(field).join(",")).join("\\r\\n") + "\\r\\n";
  };
  function showProgress() {
    const done = answers().filter((row) => row[2] !== "").length;
    document.getElementById("progress").textContent = done + " of " + data.image_ids.length + " images answered";
  }
  function download() {
    const status = document.getElementById("status");
    if (!readerName()) {
      status.textContent = "Enter your name first.";
      document.getElementById("reader").focus();
      return;
    }
    const url = URL.createObjectURL(new Blob([window.answersCsv()], { type: "text/csv;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "answers-" + readerName().replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = "Saved " + link.download + "; send this file back.";
  }
  document.getElementById("answers").addEventListener("change", showProgress);
  document.getElementById("answers").addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("download").addEventListener("click", download);
  showProgress();
})();
"""
