"""Progbar frames checked character by character against the K3 format (KERAS_REFERENCE 9.2)."""

import re

import pytest

from graphc.frontend.progbar import Progbar, format_eta, format_time_per_unit

ANSI = re.compile(r"\x1b\[\d+m")
GREEN_BAR = "\x1b[32m{}\x1b[0m"
WHITE_BAR = "\x1b[37m{}\x1b[0m"


class Clock:
    """A settable clock so that ETA and time-per-step text are deterministic."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frame(count: str, done: int, timing: str, rest: str, width: int = 20) -> str:
    """A K3 verbose=1 frame, built from the format in the reference."""
    bar = f"\x1b[1m{count}\x1b[0m "
    if done:
        bar += GREEN_BAR.format("━" * done)
    bar += WHITE_BAR.format("━" * (width - done))
    return f"{bar} \x1b[1m{timing}\x1b[0m{rest}"


def visible_length(text: str) -> int:
    return len(ANSI.sub("", text))


def test_verbose1_frames_and_final_line(capsys):
    clock = Clock()
    bar = Progbar(8, time_fn=clock)
    clock.now += 0.5
    bar.update(1, [("accuracy", 0.5), ("loss", 0.7)])
    first = frame("1/8", 2, "3s", " 500ms/step - accuracy: 0.5000 - loss: 0.7000")  # ETA 0.5 s * 7
    assert capsys.readouterr().out == "\r" + first

    clock.now += 0.01  # within `interval` of the previous frame: nothing is drawn
    bar.update(2, [("accuracy", 0.6), ("loss", 0.6)])
    assert capsys.readouterr().out == ""

    clock.now += 1.49  # steps 2..8 took 1.5 s: 214 ms per step, the first step excluded
    bar.update(8, [("accuracy", 0.5375), ("loss", 0.6957)])
    final = frame("8/8", 20, "2s", " 214ms/step - accuracy: 0.5375 - loss: 0.6957")
    assert capsys.readouterr().out == "\b" * visible_length(first) + "\r" + final + "\n"
    assert ANSI.sub("", final) == "8/8 ━━━━━━━━━━━━━━━━━━━━ 2s 214ms/step - accuracy: 0.5375 - loss: 0.6957"


def test_shorter_frame_is_padded_over_the_previous_one(capsys):
    clock = Clock()
    bar = Progbar(4, time_fn=clock)
    clock.now += 0.1
    bar.update(1, [("loss", 123.4567)])
    first = ANSI.sub("", capsys.readouterr().out).removeprefix("\r")
    clock.now += 0.1
    bar.update(2, [("loss", 1.0)])
    second = capsys.readouterr().out
    assert second.startswith("\b" * len(first) + "\r")
    body = ANSI.sub("", second[len(first) + 1:])
    assert body.endswith("loss: 1.0000  ")  # two characters shorter than "123.4567"
    assert len(body) == len(first)


def test_values_are_shown_as_given_not_averaged(capsys):
    clock = Clock()
    bar = Progbar(2, time_fn=clock)
    clock.now += 1
    bar.update(1, [("loss", 1.0)])
    clock.now += 1
    bar.update(2, [("loss", 3.0)])
    assert ANSI.sub("", capsys.readouterr().out).endswith("loss: 3.0000\n")


@pytest.mark.parametrize(("value", "text"), [(0.5, "0.5000"), (-0.5, "-0.5000"), (0.0005, "5.0000e-04"),
                                             (-0.0005, "-5.0000e-04"), (0.001, "1.0000e-03"),
                                             (0.0011, "0.0011"), (0.0, "0.0000e+00"),
                                             (12345.678, "12345.6780")])
def test_value_format_verbose1(capsys, value, text):
    bar = Progbar(1, time_fn=Clock())
    bar.update(1, [("m", value)])
    assert ANSI.sub("", capsys.readouterr().out).endswith(f" - m: {text}\n")


def test_verbose2_prints_one_line_at_the_end(capsys):
    clock = Clock(100.0)
    bar = Progbar(10, verbose=2, time_fn=clock)
    for step in range(1, 10):
        clock.now = 100.0 + 0.02 * step
        bar.update(step, [("accuracy", 0.5), ("loss", 0.7)])
    assert capsys.readouterr().out == ""
    clock.now = 100.2
    bar.update(10, [("accuracy", 0.53), ("loss", 0.6861)])
    assert capsys.readouterr().out == "10/10 - 0s - 20ms/step - accuracy: 0.5300 - loss: 0.6861\n"


def test_verbose2_keeps_the_k3_sign_quirk(capsys):
    bar = Progbar(1, verbose=2, time_fn=Clock())
    bar.update(1, [("loss", -0.5)])
    assert capsys.readouterr().out == "1/1 - 0s - 0s/step - loss: -5.0000e-01\n"


def test_verbose0_is_silent(capsys):
    bar = Progbar(3, verbose=0, time_fn=Clock())
    for step in (1, 2, 3):
        bar.update(step, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_counter_is_right_aligned_to_the_target_width(capsys):
    clock = Clock()
    bar = Progbar(100, time_fn=clock)
    clock.now += 5
    bar.update(5)
    out = capsys.readouterr().out
    assert out == "\r" + frame("  5/100", 1, "1:35", " 1s/step")  # 1 s/step * 95 remaining


def test_unknown_target(capsys):
    clock = Clock()
    bar = Progbar(None, time_fn=clock)
    clock.now += 3
    bar.update(3, [("loss", 0.25)])
    assert capsys.readouterr().out == "\r      3/Unknown \x1b[1m3s\x1b[0m 1s/step - loss: 0.2500"


def test_predict_style_bar_without_values(capsys):
    clock = Clock()
    bar = Progbar(1, time_fn=clock)
    clock.now += 0.13
    bar.update(1)
    assert ANSI.sub("", capsys.readouterr().out) == "\r1/1 ━━━━━━━━━━━━━━━━━━━━ 0s 130ms/step\n"


def test_writes_to_the_current_stdout(monkeypatch):
    import io
    import sys

    captured = io.StringIO()
    bar = Progbar(1, verbose=2, time_fn=Clock())
    monkeypatch.setattr(sys, "stdout", captured)
    bar.update(1)
    assert captured.getvalue() == "1/1 - 0s - 0s/step\n"


@pytest.mark.parametrize(("seconds", "text"), [(3.9, "3s"), (59.0, "59s"), (60.0, "60s"), (65.0, "1:05"),
                                               (3599.0, "59:59"), (3725.0, "1:02:05")])
def test_eta_formats(seconds, text):
    assert format_eta(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.0, " 0s/step"), (2.4, " 2s/step"), (1.0, " 1s/step"),
                                               (0.0123, " 12ms/step"), (0.001, " 1ms/step"),
                                               (0.000456, " 456us/step")])
def test_time_per_step_units(seconds, text):
    assert format_time_per_unit(seconds) == text


def test_bad_arguments():
    with pytest.raises(ValueError, match="target"):
        Progbar(-1)
    with pytest.raises(ValueError, match="verbose"):
        Progbar(3, verbose=5)
