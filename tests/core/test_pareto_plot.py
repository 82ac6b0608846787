"""The Pareto PNG (issue 16, item 12): starred answers lie on the drawn front and their labels stay in the figure."""

from types import SimpleNamespace

from ddp_core import plotting


def _answer(cost: float, expectation: float, budget: float | None = None):
    return SimpleNamespace(costs={"flops_m": cost}, expectation=expectation,
                           budgets={} if budget is None else {"flops_m": budget})


def test_starred_answers_are_on_the_drawn_front_and_labels_fit(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plotting, "save_figure", lambda figure, path, dpi=110: figures.append(figure) or path)
    front = [_answer(100, 0.50), _answer(200, 0.60), _answer(300, 0.70)]
    # an answer the front passed in does not hold (e.g. computed on another subset), at the right edge
    answers = [_answer(350, 0.74, budget=400.0), _answer(100, 0.50, budget=120.0)]
    plotting.plot_pareto_front(front, "flops_m", tmp_path / "front.png", highlight=answers)
    (figure,) = figures
    axis = figure.axes[0]
    staircase = list(zip(*axis.lines[0].get_data(), strict=True))
    assert (350.0, 0.74) in staircase and staircase[0] == (100.0, 0.50)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox
    for text in axis.texts:
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= box.x0 and extent.x1 <= box.x1 and extent.y0 >= box.y0 and extent.y1 <= box.y1, \
            text.get_text()


def test_model_front_keeps_tied_answers_and_drops_beaten_ones():
    from types import SimpleNamespace

    from ddp_core.run_eng import model_front

    def answer(arch, cost, score):
        return SimpleNamespace(architecture=arch, costs={"params_m": cost}, predicted_score=score, feasible=True)

    cheap, tied, beaten, better = answer((0,), 1.0, 0.5), answer((1,), 2.0, 0.5), answer((2,), 3.0, 0.4), \
        answer((3,), 4.0, 0.7)
    front = model_front([better, beaten, tied, cheap], "params_m")
    assert [a.architecture for a in front] == [(0,), (1,), (3,)]  # a tie is some budget's answer: it stays
