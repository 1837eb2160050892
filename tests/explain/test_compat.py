"""Every method on every architecture of the factory: runs correctly or refuses naming the layer;
the published table in docs/explanations.md matches what the code does."""

from pathlib import Path

import pytest

from medattn.explain.compat import combination_name, row
from medattn.explain.methods import METHODS
from medattn.models.catalog import valid_combinations

DOC = Path(__file__).parents[2] / "docs" / "explanations.md"


def published_rows() -> dict[str, dict[str, str]]:
    lines = DOC.read_text().split("## Which method runs on which architecture")[1].splitlines()
    table = [line for line in lines if line.startswith("| ")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    return {
        cells[0]: dict(zip(header[1:], cells[1:], strict=True))
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table[1:])
    }


def test_the_table_covers_every_method_and_combination():
    rows = published_rows()
    assert set(rows) == {combination_name(*combo) for combo in valid_combinations()}
    assert all(list(cells) == list(METHODS) for cells in rows.values())


@pytest.mark.parametrize("combo", valid_combinations(), ids=lambda c: combination_name(*c))
def test_every_method_runs_or_refuses_by_layer_and_the_table_says_so(combo):
    cells = row(*combo)  # raises on wrong shapes, non-finite maps and multi-line refusals
    for method, cell in cells.items():
        if cell.status == "refused" and method in ("deeplift", "lrp", "guided-gradcam"):
            assert "layer '" in cell.reason, cell.reason
    marks = {method: cell.status for method, cell in cells.items()}
    assert marks == published_rows()[combination_name(*combo)]
