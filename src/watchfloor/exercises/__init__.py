"""Exercises: replaying attack telemetry through the installation's detection and queues, as a drill.

`run_exercise` replays a built-in scenario (`SCENARIOS`) or any folder of supported files, shifted to
now and marked as an exercise, detects with the installation's active rules, opens exercise incidents
(left out of real queues and real metrics) and returns an `ExerciseReport`: the steps detected,
ATT&CK coverage, and the drill's MTTA and MTTR. See docs/exercises.md.
"""

from watchfloor.exercises.replay import EXERCISE_COLUMN, ShiftingSink
from watchfloor.exercises.report import Clock, ExerciseReport, StepResult, covers, render
from watchfloor.exercises.run import drill_clocks, exercise_report, exercises_dir, run_exercise
from watchfloor.exercises.scenario import SCENARIOS, Scenario, Step

__all__ = [
    "EXERCISE_COLUMN",
    "SCENARIOS",
    "Clock",
    "ExerciseReport",
    "Scenario",
    "ShiftingSink",
    "Step",
    "StepResult",
    "covers",
    "drill_clocks",
    "exercise_report",
    "exercises_dir",
    "render",
    "run_exercise",
]
