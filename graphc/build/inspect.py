"""`inspect_model`: what the compiler does with a model, program by program.

For each program (predict, eval_step, train_step) the report holds the optimization pipeline
run (per-pass node counts, time and counters), the node counts by role, the kernels the
optimized graph becomes (fused kernels listed with their ops), and the planned workspace
arena before and after memory planning as `static + per_batch * N` bytes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphc.build.programs import model_programs
from graphc.codegen.buffers import Size, assign_buffers
from graphc.ir.graph import ROLES, Graph
from graphc.passes.kernels import partition
from graphc.passes.pipeline import parse_level

if TYPE_CHECKING:
    from graphc.frontend.models import Model
    from graphc.passes.manager import PassStats, PipelineResult

REPORT_BATCH = 128


@dataclass(frozen=True)
class FusedKernel:
    """A kernel made of several nodes: its position in the program, its ops and its stored outputs."""

    index: int
    ops: tuple[str, ...]
    nodes: int
    outputs: int


@dataclass
class MemoryPlan:
    before: Size
    after: Size
    in_place_writes: int

    @staticmethod
    def of(graph: Graph) -> MemoryPlan:
        plan = assign_buffers(graph, partition(graph))
        return MemoryPlan(plan.before_planning, plan.arena_size, len(plan.in_place))


@dataclass
class ProgramReport:
    name: str
    nodes_recorded: int
    nodes_optimized: int
    passes: list[PassStats]
    roles: dict[str, int]
    kernels: int
    fused: list[FusedKernel]
    memory: MemoryPlan

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)


@dataclass
class InspectReport:
    model: str
    level: int
    programs: list[ProgramReport] = field(default_factory=list)
    stateful: list[str] = field(default_factory=list)  # layers that carry states between batches

    def program(self, name: str) -> ProgramReport:
        for report in self.programs:
            if report.name == name:
                return report
        raise KeyError(f"no program {name!r}; programs are {[p.name for p in self.programs]}")

    def text(self, batch: int = REPORT_BATCH) -> str:
        lines = [f"model {self.model!r} at O{self.level}"]
        if self.stateful:
            lines.append(f"stateful layers {self.stateful}: each call continues their states "
                         "(reset_states() zeroes them; graphc compile's context carries them)")
        for report in self.programs:
            lines += ["", *_program_text(report, batch)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def inspect_program(name: str, recorded: Graph, result: PipelineResult) -> ProgramReport:
    """The report of one program from its recorded graph and its pipeline run."""
    optimized = result.graph
    kernels = partition(optimized)
    fused = [FusedKernel(i, tuple(dict.fromkeys(n.op for n in k.nodes)), len(k.nodes), len(k.outputs))
             for i, k in enumerate(kernels) if len(k.nodes) > 1]
    counts = Counter(n.role for n in optimized.nodes)
    roles = {r: counts[r] for r in ROLES if counts[r]}
    return ProgramReport(name, len(recorded.nodes), len(optimized.nodes), list(result.stats), roles,
                         len(kernels), fused, MemoryPlan.of(optimized))


def inspect_model(model: Model, level: int | str = 2) -> InspectReport:
    """Record the model's programs, optimize them at `level`, partition them into kernels and plan memory."""
    number = parse_level(level)
    programs = model_programs(model, number)
    reports = [inspect_program(name, programs.recorded[name], programs.pipelines[name])
               for name in programs.graphs]
    stateful = [layer.name for layer in model.layers if layer.stateful]
    return InspectReport(model.name, number, reports, stateful)


def _bytes(size: Size, batch: int) -> str:
    return f"{size.static:,} + {size.per_batch:,}*N bytes ({size.at(batch) / 2**20:.2f} MiB at N={batch})"


def _program_text(report: ProgramReport, batch: int) -> list[str]:
    roles = ", ".join(f"{role} {count}" for role, count in report.roles.items())
    lines = [
        f"program {report.name}: {report.nodes_recorded} nodes recorded -> {report.nodes_optimized} "
        f"after optimization ({roles})",
        f"  {'pass':<20} {'nodes':>15} {'ms':>9}  counters",
    ]
    for stats in report.passes:
        counters = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in stats.counters.items())
        lines.append(f"  {stats.name:<20} {stats.nodes_before:>6} -> {stats.nodes_after:<6} "
                     f"{stats.seconds * 1e3:>9.2f}  {counters}".rstrip())
    lines.append(f"  {'total':<20} {'':>15} {report.seconds * 1e3:>9.2f}")
    lines.append(f"  kernels: {report.kernels} ({len(report.fused)} fused)")
    for kernel in report.fused:
        ops = " ".join(kernel.ops)
        lines.append(f"    k{kernel.index}: {kernel.nodes} nodes, {kernel.outputs} stored: {ops}")
    memory = report.memory
    saved = memory.before.at(batch) - memory.after.at(batch)
    share = saved / memory.before.at(batch) if memory.before.at(batch) else 0.0
    lines += [
        f"  arena before planning: {_bytes(memory.before, batch)}",
        f"  arena after planning:  {_bytes(memory.after, batch)}; {memory.in_place_writes} in-place writes, "
        f"{100 * share:.1f}% saved",
    ]
    return lines
