"""The terminal table of ``medattn features``: per model where it fits, per feature where it would not."""

from rich.console import Console

from medattn.cli.features import usage_table


def result(models: int, features: int) -> dict:
    names = [f"criterion_{i}" for i in range(features)]
    rows = [
        {"run": f"r{m}", "feature": f, "uses": m % 2 == 0 if i else None, "uses_holm": m % 4 == 0 if i else None}
        for m in range(models)
        for i, f in enumerate(names)
    ]
    return {
        "models": [{"run": f"r{m}", "name": f"resnet18 cbam seed {m}"} for m in range(models)],
        "features": names,
        "rows": rows,
        "tests": ["chsic", "rcot", "cmiknn"],
        "alpha": 0.01,
    }


def render(table, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines()


def test_a_few_features_give_the_papers_table_one_row_per_model():
    lines = render(usage_table(result(3, 3), width=120), 120)
    assert sum("resnet18 cbam seed" in line for line in lines) == 3
    assert any("✓ [✓]" in line for line in lines) and any("-" in line for line in lines)


def test_many_features_give_one_readable_row_per_feature():
    lines = render(usage_table(result(50, 23), width=100), 100)
    assert max(len(line) for line in lines) <= 100
    rows = [line for line in lines if "criterion_" in line]
    assert len(rows) == 23
    assert "50 / 50" not in rows[0] and rows[0].split("│")[4].strip() == "50"  # criterion_0: not tested anywhere
    assert [cell.strip() for cell in rows[1].split("│")[2:4]] == ["25 / 50", "13 / 50"]
    assert any("JSON file" in line for line in lines)
