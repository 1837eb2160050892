"""docs/python-api.md: its ```python blocks run in order in one namespace, as a reader would paste them."""

import re
from pathlib import Path

import torch

DOC = Path(__file__).parents[1] / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
TOPICS = {  # topic: heading of the section that must show it in code
    "model": "## Build a model",
    "train": "## Train a run",
    "test": "## Test a run",
    "explain": "## Explain predictions and score the explanations",
    "stats": "## Compare two variants with statistics",
    "study": "## Run a study",
}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the block's first code line in the file, code) for every ```python block, in order."""
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in BLOCK.finditer(text)]


def test_every_topic_has_a_code_block():
    sections = re.split(r"^(?=## )", DOC.read_text(encoding="utf-8"), flags=re.M)
    for topic, heading in TOPICS.items():
        found = [section for section in sections if section.startswith(f"{heading}\n")]
        assert found, f"docs/python-api.md has no section '{heading}' (topic {topic})"
        assert BLOCK.search(found[0]), f"section '{heading}' of docs/python-api.md has no ```python block"


def test_code_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache" / "decoded"))
    threads = torch.get_num_threads()  # the study runner sets the thread count of its runs
    namespace = {"__name__": "python_api_doc"}
    try:
        for number, (line, code) in enumerate(python_blocks(DOC.read_text(encoding="utf-8")), start=1):
            # Padding the code to its line in the file makes tracebacks point into docs/python-api.md.
            program = compile("\n" * (line - 1) + code, str(DOC), "exec")
            try:
                exec(program, namespace)
            except Exception as error:
                raise AssertionError(
                    f"docs/python-api.md block {number} (line {line}): {type(error).__name__}: {error}"
                ) from error
    finally:
        torch.set_num_threads(threads)
