"""The interactive explorer behind notebooks/explore.ipynb: knobs, Start/Cancel, a live plot.

A researcher turns the knobs that shape a run (concurrency, the ASHA quantile, the mutation
buffer, the queue, the batch, the shards, and the simulated provider's latency and rate limit),
presses Start, and watches best quality against wall-clock time with the run's counters while it
goes on. The run is a task on the kernel's event loop (never a blocking call), so the buttons
stay live; Cancel cancels the task. Headless (papermill), :meth:`Explorer.run` is awaited with
the same settings and the plot's last frame stays in the notebook.

Everything here runs against the in-process simulated world in real time (latencies scaled by
``time_scale``), so the results are simulated and labelled so. ipywidgets is imported only when
the widgets are built.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from matplotlib.figure import Figure

from ..api import optimize
from ..config import Config
from ..runs.telemetry import RunResult
from ..sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from ..sim.latency import Latency
from ..sim.rate_limits import RateLimits
from ..sim.skills import SEED_PROMPT

RATE_WINDOW = 5.0  # seconds of progress reports the live rate averages over
# Each knob's label (in words, with its unit), its help (the widget's tooltip) and step.
KNOBS: dict[str, tuple[str, str, float]] = {
    "eval_concurrency": (
        "calls in flight",
        "task calls evaluated at once (Config.eval_concurrency)",
        16,
    ),
    "cohort_quantile": (
        "share pruned per rung",
        "of each rung's recent cohort, the share cut (0 to 0.95; Config.cohort_quantile)",
        0.05,
    ),
    "mutation_buffer_min": (
        "new candidates queued, min",
        "reflections start while fewer new candidates wait (Config.mutation_buffer_min)",
        1,
    ),
    "queue_limit": (
        "new candidates queued, max",
        "no reflection starts while this many wait (Config.queue_limit)",
        1,
    ),
    "batch_size": (
        "results per report",
        "rung results between progress reports (Config.batch_size)",
        1,
    ),
    "shards": (
        "rungs (fractions of the set)",
        "each rung's share of the training set, the last 1 (Config.shards)",
        0,
    ),
    "latency_low": ("task latency, min (sim. s)", "shortest simulated task call", 0.1),
    "latency_high": ("task latency, max (sim. s)", "longest simulated task call", 0.1),
    "time_scale": (
        "real s per simulated s",
        "0.2: a 2 s simulated call takes 0.4 s of real time",
        0.05,
    ),
    "requests_per_minute": (
        "rate limit (requests/min)",
        "the simulated provider's limit (429 beyond); 0 for none",
        60,
    ),
    "target_quality": (
        "target quality (0 to 1)",
        "the run stops once the full training set scores this",
        0.05,
    ),
    "max_wall_time": ("time limit (real s)", "the run stops after this long", 10),
}


@dataclass(frozen=True)
class Settings:
    """One run of the explorer: the knobs, validated by building the Config and provider."""

    dataset_size: int = 45
    target_quality: float = 0.7
    eval_concurrency: int = 128
    cohort_quantile: float = 0.5
    mutation_buffer_min: int = 32
    queue_limit: int = 256
    batch_size: int = 16
    shards: tuple[float, ...] = (0.05, 0.2, 1.0)
    latency_low: float = 1.0  # simulated seconds per task call, before time_scale
    latency_high: float = 3.0
    time_scale: float = 0.2  # real seconds per simulated second
    requests_per_minute: float = 0.0  # the simulated provider's rate limit; 0 means none
    max_wall_time: float = 120.0  # real seconds
    seed: int = 0

    def config(self) -> Config:
        return Config(
            eval_concurrency=self.eval_concurrency,
            cohort_quantile=self.cohort_quantile,
            mutation_buffer_min=self.mutation_buffer_min,
            queue_limit=self.queue_limit,
            batch_size=self.batch_size,
            # Reflections in flight follow the buffer, so a larger buffer can really fill.
            max_mutations_per_round=max(4, self.mutation_buffer_min),
            shards=tuple(self.shards),
            target_quality=self.target_quality,
            max_wall_time=self.max_wall_time,
            max_candidates_in_flight=None,
            seed=self.seed,
        )

    def provider(self) -> SimProvider:
        limits = RateLimits(self.requests_per_minute) if self.requests_per_minute > 0 else None
        latency = Latency("uniform", self.latency_low, self.latency_high)
        return SimProvider(latency, time_scale=self.time_scale, rate_limits=limits)


@dataclass
class _Live:
    """What the run reported so far: the best quality over time and the latest counters."""

    started: float = field(default_factory=time.monotonic)
    curve: list[tuple[float, float]] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0  # task calls finished per second, over the last RATE_WINDOW seconds
    _recent: deque[tuple[float, int]] = field(default_factory=lambda: deque([(0.0, 0)]))

    def update(self, p: dict[str, Any]) -> None:
        t, calls = float(p["time"]), int(p["metric_calls"])
        recent = self._recent
        if t > recent[-1][0]:
            # Over a few seconds, not since the last report: reports come in bursts, and one a
            # millisecond after the last would read as thousands a second.
            recent.append((t, calls))
            while len(recent) > 2 and recent[1][0] <= t - RATE_WINDOW:
                recent.popleft()
            t0, calls0 = recent[0]
            self.rate = (calls - calls0) / (t - t0)
        best = p["best_quality"]
        if best is not None and (not self.curve or best > self.curve[-1][1]):
            self.curve.append((t, best))
        self.progress = p

    def finish(self, result: RunResult) -> None:
        """The run's own record replaces the sampled one: its every new best, its end."""
        curve = result.curve()
        self.curve = list(zip(curve["time"], curve["quality"], strict=True))
        self.progress = {
            **self.progress,
            "time": result.wall_time,
            "in_flight": 0,
            "metric_calls": result.metric_calls,
        }
        self.rate = result.throughput  # the whole run's: what a finished run is read by
        if self.curve:
            self.progress["best_quality"] = self.curve[-1][1]


class Explorer:
    """Widgets and a live plot for one simulated run at a time (see the module docstring)."""

    def __init__(self, settings: Settings | None = None, refresh: float = 0.5) -> None:
        self.settings = settings or Settings()
        self.settings.config()  # fail now, with the field's name, on a bad default
        self.refresh = refresh
        self.task: asyncio.Task[RunResult] | None = None
        self.result: RunResult | None = None
        self.live = _Live()
        self.fig = Figure(figsize=(7, 3.6), layout="constrained")
        self._handle: Any = None
        self._ui: dict[str, Any] = {}

    # ----------------------------------------------------------------- the run
    async def run(self, settings: Settings | None = None, virtual: bool = False) -> RunResult:
        """Run ``settings`` (the current ones by default) to the end, refreshing the plot and
        counters every ``refresh`` seconds. ``virtual`` runs on the virtual clock instead
        (simulated seconds, no waiting, no live refresh): what sweeps use."""
        s = settings or self.settings
        config = s.config()
        provider = s.provider()
        train = synthetic_aime(s.dataset_size, seed=s.seed)
        self.live = _Live()
        ticker = None if virtual else asyncio.ensure_future(self._tick(s))
        try:
            self.result = await optimize(
                SEED_PROMPT,
                train,
                config,
                provider=provider,
                task_model=TASK_MODEL,
                reflection_model=REFLECTION_MODEL,
                label="turbo",
                time_mode="virtual" if virtual else "real",
                on_progress=None if virtual else self.live.update,
            )
            self.live.finish(self.result)
            return self.result
        finally:
            if ticker is not None:
                ticker.cancel()
            self._draw(s)

    async def _tick(self, s: Settings) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            self._draw(s)

    def _draw(self, s: Settings) -> None:
        """Redraw the plot and the counters from what the run reported so far."""
        fig = self.fig
        fig.clear()
        ax = fig.add_subplot()
        p = self.live.progress
        now = float(p.get("time", 0.0))
        if self.live.curve:
            times = [0.0, *(t for t, _ in self.live.curve), now]
            first = self.live.curve[0][1]
            quality = [first, *(q for _, q in self.live.curve), self.live.curve[-1][1]]
            ax.step(times, quality, where="post", label="best so far")
        ax.axhline(
            s.target_quality, color="0.4", ls="--", lw=1, label=f"target {s.target_quality:g}"
        )
        # A margin past the latest point: a last jump to the target stays in sight.
        ax.set_xlim(0, max(now, 1.0) * 1.05)
        ax.set_ylim(0, 1)
        virtual = self.result is not None and self.result.time_mode == "virtual"
        ax.set_xlabel(f"wall-clock time ({'simulated ' if virtual else ''}s)")
        ax.set_ylabel("best quality (full set)")
        ax.set_title("Best quality over time (simulated)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        if self._handle is not None:
            self._handle.update(fig)
        counters = self._ui.get("counters")
        if counters is not None:
            counters.value = self.counters_html()

    def counters_html(self) -> str:
        p = self.live.progress
        best = p.get("best_quality")
        cells = {
            "time": f"{p.get('time', 0.0):.1f} s",
            "in flight": p.get("in_flight", 0),
            "evaluations/s": f"{self.live.rate:.0f}",
            "evaluations": p.get("metric_calls", 0),
            "candidates": p.get("candidates", 0),
            "pruned": p.get("pruned", 0),
            "best": "none yet" if best is None else f"{best:.3f}",
        }
        return "".join(
            f"<span class='gl-counter' data-name='{k}' style='margin-right:1.2em'>"
            f"<b>{k}</b>: <span class='gl-value'>{v}</span></span>"
            for k, v in cells.items()
        )

    # ----------------------------------------------------------------- the widgets
    def show(self) -> None:
        """Display the knobs, Start/Cancel, the counters and the live plot."""
        import ipywidgets as w
        from IPython.display import display

        s = self.settings
        ui = self._ui
        style = {"description_width": "170px"}
        layout = w.Layout(width="390px")
        knobs = []
        for name, (label, help_text, step) in KNOBS.items():
            value = getattr(s, name)
            if name == "shards":
                box = w.Text(", ".join(f"{f:g}" for f in value), description=label)
            elif isinstance(value, int):
                # Unbounded: a value out of range is refused with the knob named, not clamped.
                box = w.IntText(value, step=int(step), description=label)
            else:
                box = w.FloatText(value, step=step, description=label)
            box.style, box.layout, box.tooltip = style, layout, help_text
            ui[name] = box
            knobs.append(box)
        ui["start"] = w.Button(description="Start", button_style="success")
        ui["cancel"] = w.Button(description="Cancel", button_style="danger", disabled=True)
        ui["status"] = w.HTML("<i>ready: set the knobs and press Start</i>")
        ui["counters"] = w.HTML(self.counters_html())
        ui["start"].on_click(lambda _: self.start())
        ui["cancel"].on_click(lambda _: self.cancel())
        grid = w.GridBox(knobs, layout=w.Layout(grid_template_columns="repeat(2, 400px)"))
        display(w.VBox([grid, w.HBox([ui["start"], ui["cancel"], ui["status"]]), ui["counters"]]))
        self._draw(s)
        self._handle = display(self.fig, display_id=True)

    def settings_from_widgets(self) -> Settings:
        """The knobs as Settings; a bad value raises ValueError naming the knob."""
        ui = self._ui
        text = ui["shards"].value
        try:
            shards = tuple(float(x) for x in text.replace(",", " ").split())
        except ValueError:
            raise ValueError(
                f"shards={text!r} is invalid: give fractions like 0.05, 0.2, 1"
            ) from None
        names = [f for f in asdict(self.settings) if f in ui and f != "shards"]
        new = replace(self.settings, shards=shards, **{n: ui[n].value for n in names})
        try:
            new.config()
            new.provider()
        except ValueError as exc:  # it names the field: say which knob that is
            message = str(exc)
            # The knob the message names first is the one at fault ("queue_limit=4 ... must be
            # >= mutation_buffer_min" is about queue_limit).
            named = sorted((message.find(n), n) for n in KNOBS if n in message)
            label = KNOBS[named[0][1]][0] if named else None
            raise ValueError(f"{label}: {message}" if label else message) from None
        return new

    def start(self) -> None:
        ui = self._ui
        if self.task is not None and not self.task.done():
            return
        try:
            settings = self.settings_from_widgets()
        except (ValueError, TypeError) as exc:
            ui["status"].value = f"<span style='color:#b00'>not started: {exc}</span>"
            return
        self.settings = settings
        ui["start"].disabled, ui["cancel"].disabled = True, False
        ui["status"].value = "<b>running</b>"
        self.task = asyncio.get_running_loop().create_task(self.run(settings))
        self.task.add_done_callback(self._finished)

    def cancel(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.get_loop().call_soon_threadsafe(task.cancel)

    def _finished(self, task: asyncio.Task[RunResult]) -> None:
        ui = self._ui
        ui["start"].disabled, ui["cancel"].disabled = False, True
        if task.cancelled():
            ui["status"].value = "<b>cancelled</b>"
        elif task.exception() is not None:
            exc = task.exception()
            ui[
                "status"
            ].value = f"<span style='color:#b00'>failed: {type(exc).__name__}: {exc}</span>"
        else:
            ui["status"].value = f"<b>finished</b>: {verdict(task.result())}"


def verdict(res: RunResult) -> str:
    """One line on a finished run: did it reach the target, when, at what cost."""
    unit = "simulated s" if res.time_mode == "virtual" else "s"
    target = res.config.target_quality
    if res.time_to_target is not None:
        head = f"reached {target:g} after {res.time_to_target:.1f} {unit}"
    else:
        head = f"stopped ({res.stop_reason}) at {res.best_quality:.3f}, {res.wall_time:.1f} {unit}"
    cost = res.provider_stats.get("cost_usd")
    priced = f", ${cost:.4f} at nominal prices" if cost is not None else ""
    return (
        f"{head}; {res.metric_calls:,} evaluations{priced}, {res.candidates:,} candidates, "
        f"{res.pruned_first_rung:.0%} pruned at the first rung"
    )
