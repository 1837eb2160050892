import csv
import json
import time

import numpy as np
import pytest

from medattn.errors import ConfigError
from medattn.explain.display import normalise_columns
from medattn.explain.reader_study import export_sheet, shuffled_order, tally, wilson_interval

from ..browser_helpers import open_page

H = W = 32
MODELS = ("ResNet-18", "ResNet-18+SE", "ResNet-18+CBAM")
XSS_ID = "<img src=x onerror=alert(1)>"
SCRIPT_ID = "</script><script>document.title='pwned'</script>"
IDS = ["case_001.png", XSS_ID, SCRIPT_ID]


def make_inputs(n_images=3, models=MODELS):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(n_images, H, W, 3))
    images[0] = images[0, :, :, :1]  # grey
    raw = {name: rng.uniform(size=(n_images, H, W)) for name in models}
    maps, scale = normalise_columns(raw, "shared-positive")
    return images, maps, scale


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    images, maps, scale = make_inputs()
    out = tmp_path_factory.mktemp("reader")
    return export_sheet(images, maps, out, image_ids=IDS, seed=7, scale=scale, title="Best map? <b>$x$</b>")


def test_sheet_is_blinded_escaped_and_self_contained(sheet):
    sheet_path, key_path = sheet
    page = sheet_path.read_text()
    for name in MODELS:
        assert name not in page
    assert XSS_ID not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "</script><script>document.title" not in page
    assert "http://" not in page and "https://" not in page
    key = json.loads(key_path.read_text())
    assert sorted(key["images"]) == sorted(IDS)
    assert all(sorted(labels.values()) == sorted(MODELS) for labels in key["images"].values())
    assert sorted(key["images"][IDS[0]]) == ["A", "B", "C"]


def test_sheet_renders_in_chromium_with_one_radio_group_per_image(chromium, sheet):
    page = open_page(chromium, sheet[0])
    assert page["severe"] == []
    assert page["images_loaded"], page["broken_images"]
    assert page["images"] == len(IDS) * (len(MODELS) + 1) + 1  # originals, maps, colour bar
    assert page["title"] == "Best map? <b>$x$</b>"
    groups = chromium.execute_script(
        "const radios = Array.from(document.querySelectorAll('form#answers input[type=radio]'));"
        "const groups = {}; radios.forEach(r => { groups[r.name] = (groups[r.name] || 0) + 1; }); return groups;"
    )
    assert groups == {f"choice-{k}": len(MODELS) for k in range(len(IDS))}
    assert len(chromium.find_elements("css selector", "form#answers textarea")) == len(IDS)
    assert chromium.find_element("id", "reader") and chromium.find_element("id", "download")


def test_answers_from_the_browser_tally_against_the_key(chromium, sheet, tmp_path):
    sheet_path, key_path = sheet
    open_page(chromium, sheet_path)
    chromium.find_element("id", "reader").send_keys("Dr. O'Neil, MD")
    picks = {0: "B", 1: "A"}  # image 2 left unanswered: an abstention
    for k, label in picks.items():
        chromium.find_element("css selector", f'input[name="choice-{k}"][value="{label}"]').click()
    chromium.find_element("css selector", 'textarea[name="comment-0"]').send_keys('border, "irregular"\nsecond line')
    assert chromium.find_element("id", "progress").text == "2 of 3 images answered"
    text = chromium.execute_script("return window.answersCsv();")
    answers = tmp_path / "answers.csv"
    answers.write_text(text, newline="")
    rows = list(csv.DictReader(answers.open(newline="")))
    assert [r["image_id"] for r in rows] == IDS
    assert rows[0]["comment"] == 'border, "irregular"\nsecond line' and rows[2]["choice"] == ""

    key = json.loads(key_path.read_text())["images"]
    expected = dict.fromkeys(MODELS, 0)
    for k, label in picks.items():
        expected[key[IDS[k]][label]] += 1
    result = tally(answers, key_path)
    assert result.overall.counts == expected and result.overall.n == 2
    assert result.per_reader["Dr. O'Neil, MD"].counts == expected
    assert result.abstentions == {"Dr. O'Neil, MD": 1}
    assert chromium.get_log("browser") == []


def test_download_button_saves_the_csv(chromium, sheet, tmp_path):
    open_page(chromium, sheet[0])
    chromium.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    chromium.find_element("id", "download").click()
    assert chromium.find_element("id", "status").text == "Enter your name first."
    chromium.find_element("id", "reader").send_keys("reader 1")
    chromium.find_element("css selector", 'input[name="choice-2"][value="C"]').click()
    chromium.find_element("id", "download").click()
    saved = tmp_path / "answers-reader_1.csv"
    deadline = time.monotonic() + 20
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.open(newline="").read() == chromium.execute_script("return window.answersCsv();")
    assert [entry for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_shuffle_is_seeded_and_independent_per_image(tmp_path):
    images, maps, scale = make_inputs(n_images=6, models=("m1", "m2", "m3", "m4"))
    ids = [f"img{k}" for k in range(6)]

    def export(seed, folder):
        sheet_path, key_path = export_sheet(images, maps, tmp_path / folder, image_ids=ids, seed=seed, scale=scale)
        return sheet_path.read_bytes(), json.loads(key_path.read_text())["images"]

    first, again, other = export(1, "a"), export(1, "b"), export(2, "c")
    assert first == again
    assert first[1] != other[1]
    assert len({tuple(labels.values()) for labels in first[1].values()}) > 1
    # Order depends on (seed, index) only: adding images leaves earlier ones as they were.
    assert shuffled_order(4, 1, 3) == [int(v[1:]) - 1 for v in first[1]["img3"].values()]
    assert sorted(shuffled_order(4, 1, 0)) == [0, 1, 2, 3]


def test_export_rejects_bad_input(tmp_path):
    images, maps, scale = make_inputs()
    with pytest.raises(ConfigError, match="image ids must be unique"):
        export_sheet(images, maps, tmp_path, image_ids=["a", "a", "b"], seed=0, scale=scale)
    with pytest.raises(ConfigError, match="2 to 26 models"):
        export_sheet(images, {"only": maps[MODELS[0]]}, tmp_path, image_ids=IDS, seed=0, scale=scale)
    with pytest.raises(ConfigError, match="non-negative integer"):
        export_sheet(images, maps, tmp_path, image_ids=IDS, seed=-1, scale=scale)
    assert list(tmp_path.iterdir()) == []


def test_wilson_interval_matches_newcombe_1998():
    # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score, no continuity correction).
    for (k, n), expected in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611)}.items():
        np.testing.assert_allclose(wilson_interval(k, n), expected, atol=5e-5)
    assert all(np.isnan(wilson_interval(0, 0)))


def test_wilson_interval_matches_statsmodels():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(0, 5), (3, 7), (12, 12)]:
        np.testing.assert_allclose(wilson_interval(k, n), proportion.proportion_confint(k, n, method="wilson"))


KEY = {"format": "medattn-reader-key/1", "models": ["base", "cbam"], "images": {"x": {"A": "base", "B": "cbam"}}}
KEY["images"]["y"] = {"A": "cbam", "B": "base"}


def write(path, text):
    path.write_text(text)
    return path


def test_tally_counts_per_model_and_per_reader(tmp_path):
    key = write(tmp_path / "key.json", json.dumps(KEY))
    one = write(tmp_path / "r1.csv", "reader,image_id,choice,comment\nr1,x,B,\nr1,y,A,ok\n")
    two = write(tmp_path / "r2.csv", "reader,image_id,choice,comment\nr2,x,A,\nr2,y,,\n")
    result = tally([one, two], key)
    assert result.overall.counts == {"base": 1, "cbam": 2} and result.overall.n == 3
    assert result.per_reader["r1"].counts == {"base": 0, "cbam": 2}
    assert result.abstentions == {"r1": 0, "r2": 1}
    assert result.overall.proportions["cbam"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(result.overall.ci["cbam"], (0.2077, 0.9385), atol=5e-5)
    assert result.to_rows()[0] == dict(reader="all", model="base", votes=1, n=3) | dict(
        proportion=pytest.approx(1 / 3), ci_low=result.overall.ci["base"][0], ci_high=result.overall.ci["base"][1]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reader,image_id,choice\nr,z,A\n", "row 2: unknown image id 'z'"),
        ("reader,image_id,choice\nr,x,A\nr,y,D\n", "row 3: label 'D' is not in the key for image 'y'"),
        ("reader,image,choice\nr,x,A\n", "missing column(s) image_id"),
        ("reader,image_id,choice\n,x,A\n", "row 2: empty reader name"),
        ("reader,image_id,choice\nr,x,A\nr,x,B\n", "answered image 'x' twice"),
    ],
)
def test_tally_names_file_and_row_of_bad_input(tmp_path, text, message):
    key = write(tmp_path / "key.json", json.dumps(KEY))
    answers = write(tmp_path / "answers.csv", text)
    with pytest.raises(ConfigError) as error:
        tally(answers, key)
    assert message in str(error.value) and str(answers) in str(error.value) and "\n" not in str(error.value)


def test_tally_rejects_a_file_that_is_not_a_key(tmp_path):
    answers = write(tmp_path / "answers.csv", "reader,image_id,choice\n")
    with pytest.raises(ConfigError, match="not a reader-study key"):
        tally(answers, write(tmp_path / "key.json", "[]"))
    with pytest.raises(ConfigError, match="cannot read reader-study key"):
        tally(answers, write(tmp_path / "key2.json", "{"))
