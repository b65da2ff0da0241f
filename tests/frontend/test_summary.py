"""Summary text compared with the verified K3 output of KERAS_REFERENCE 9.1 and rich's layout rules."""

import pytest

from graphc.frontend.summary import SummaryRow, format_summary, readable_memory_size

# Verbatim keras 3.15.1 output (KERAS_REFERENCE.md 9.1), printed on an 80-column terminal: K3 uses
# min(88, columns - 4) = 76.
K3_EXAMPLE = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 12)             │           108 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 8)              │           104 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_2 (Dense)                 │ (None, 1)              │             9 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 221 (884.00 B)
 Trainable params: 221 (884.00 B)
 Non-trainable params: 0 (0.00 B)"""

ROWS = [SummaryRow("dense", "Dense", "(None, 12)", 108), SummaryRow("dense_1", "Dense", "(None, 8)", 104),
        SummaryRow("dense_2", "Dense", "(None, 1)", 9)]


def test_matches_the_verified_k3_example():
    assert format_summary("sequential", ROWS, 221, 0, line_length=76) == K3_EXAMPLE


def test_default_width_88():
    lines = format_summary("sequential", ROWS, 221, 0).split("\n")
    # Columns 39/31/18 plus padding exceed 88 - 4 borders by 10; rich takes 3, 4, 3 back.
    assert lines[1] == "┏" + "━" * 38 + "┳" + "━" * 29 + "┳" + "━" * 17 + "┓"
    assert lines[2] == "┃ " + "Layer (type)".ljust(36) + " ┃ " + "Output Shape".ljust(27) + " ┃ " \
        + "Param #".rjust(15) + " ┃"
    assert all(len(line) == 88 for line in lines[1:-3])


def test_optimizer_params_count_in_the_total():
    text = format_summary("sequential", ROWS, 221, 0, line_length=76, optimizer_params=444)
    assert text.split("\n")[-4:] == [" Total params: 665 (2.60 KB)", " Trainable params: 221 (884.00 B)",
                                     " Non-trainable params: 0 (0.00 B)", " Optimizer params: 444 (1.73 KB)"]


def test_unbuilt_layers_thousands_and_no_rows():
    rows = [SummaryRow("conv2d", "Conv2D", "?", None), SummaryRow("dense", "Dense", "(None, 1000)", 1234567)]
    lines = format_summary("m", rows, 1234567, 50, line_length=76).split("\n")
    assert lines[4] == "│ conv2d (Conv2D)                 │ ?                      │   0 (unbuilt) │"
    assert lines[6] == "│ dense (Dense)                   │ (None, 1000)           │     1,234,567 │"
    assert lines[-3] == " Total params: 1,234,617 (4.71 MB)"
    empty = format_summary("empty", [], 0, 0, line_length=76).split("\n")
    assert empty[3].startswith("┡") and empty[4].startswith("└")


def test_long_cells_wrap_between_words_and_cut_long_words():
    rows = [SummaryRow("max_pooling2d_with_a_really_long_name", "MaxPooling2D", "(None, 12, 12, 32)", 0)]
    lines = format_summary("m", rows, 0, 0, line_length=76).split("\n")
    assert lines[4] == "│ max_pooling2d_with_a_really_lo… │ (None, 12, 12, 32)     │             0 │"
    assert lines[5] == "│ (MaxPooling2D)                  │                        │               │"
    assert lines[6].startswith("└")


def test_narrow_header_wraps_and_sits_at_the_bottom():
    lines = format_summary("m", [], 0, 0, line_length=40).split("\n")
    # Cell widths 17/12/7: "Output Shape" and "Param #" wrap; rich bottom-aligns header cells.
    assert lines[2] == "┃                 ┃ Output     ┃ Param ┃"
    assert lines[3] == "┃ Layer (type)    ┃ Shape      ┃     # ┃"


@pytest.mark.parametrize(("size", "text"), [(0, "0.00 B"), (884, "884.00 B"), (1023, "1023.00 B"),
                                            (1024, "1.00 KB"), (592074 * 4, "2.26 MB"),
                                            (3 * 1024 ** 3, "3.00 GB"), (5 * 1024 ** 5, "5.00 PB")])
def test_readable_memory_size(size, text):
    assert readable_memory_size(size) == text


def test_bad_arguments():
    with pytest.raises(ValueError, match="Insufficient console width"):
        format_summary("m", ROWS, 0, 0, line_length=8)
    with pytest.raises(ValueError, match="`trainable` must be a non-negative int, got -1"):
        format_summary("m", ROWS, -1, 0)
