"""The README's "Measured" block is what the committed report's tables give, not typed by hand."""
from pathlib import Path

import pandas as pd
import pytest

from trackkit.errors import DataError
from trackkit.report.measured import BEGIN, END, measured_markdown, readme_block, update_readme

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_readme_block_is_generated_from_the_committed_report():
    assert readme_block(REPO / "README.md") == measured_markdown(REPO / "reports"), \
        "README.md's measured block is stale: run `trackkit report --readme README.md --readme-only`"


def test_update_readme_rewrites_only_the_block(tmp_path):
    tables = tmp_path / "reports" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"p.row": [1, 1], "metric": ["ao", "step_ao"], "mean": [40.0, 1.5], "ci_lo": [30.0, -1.0],
                  "ci_hi": [50.0, 4.0], "n": [20, 20], "unit": ["sequence"] * 2}).to_csv(
        tables / "fastseqtrack_ablation_summary.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{BEGIN}\nstale\n{END}\nafter\n")
    assert update_readme(readme, tmp_path / "reports")
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{END}\nafter\n") and "stale" not in text
    assert "40.0 [30.0, 50.0]" in text and "1.5 [-1.0, 4.0]" in text
    assert not update_readme(readme, tmp_path / "reports")  # idempotent
    readme.write_text("no markers\n")
    with pytest.raises(DataError, match="marker"):
        update_readme(readme, tmp_path / "reports")
