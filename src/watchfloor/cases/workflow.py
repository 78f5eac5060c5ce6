"""The incident lifecycle as a declared state machine: which action leads from which states to which.

new → acknowledged → investigating → contained → remediated → closed, with shortcuts forward (an analyst
may remediate straight after acknowledging, or close a false positive at once) and `reopen` from closed
back to investigating. Nothing else moves the state; every refusal names the current state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from watchfloor.cases.errors import NotAllowed
from watchfloor.cases.values import State

__all__ = ["OPEN_STATES", "TRANSITIONS", "Action", "Transition", "next_state"]


class Action(StrEnum):
    """What an analyst does to move an incident."""

    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    CONTAIN = "contain"
    REMEDIATE = "remediate"
    CLOSE = "close"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Transition:
    """An action allowed from some states, and the state it leads to."""

    sources: frozenset[State]
    target: State


OPEN_STATES = frozenset(State) - {State.CLOSED}
_WORKED = frozenset({State.ACKNOWLEDGED, State.INVESTIGATING, State.CONTAINED})

TRANSITIONS: dict[Action, Transition] = {
    Action.ACKNOWLEDGE: Transition(frozenset({State.NEW}), State.ACKNOWLEDGED),
    Action.INVESTIGATE: Transition(frozenset({State.ACKNOWLEDGED}), State.INVESTIGATING),
    Action.CONTAIN: Transition(frozenset({State.ACKNOWLEDGED, State.INVESTIGATING}), State.CONTAINED),
    Action.REMEDIATE: Transition(_WORKED, State.REMEDIATED),
    Action.CLOSE: Transition(OPEN_STATES, State.CLOSED),
    Action.REOPEN: Transition(frozenset({State.CLOSED}), State.INVESTIGATING),
}


def next_state(current: str, action: Action) -> State:
    """The state `action` leads to from `current`, or `NotAllowed` naming both."""
    transition = TRANSITIONS[action]
    state = State(current)
    if state not in transition.sources:
        allowed = ", ".join(sorted(s.value for s in transition.sources))
        raise NotAllowed(f"cannot {action.value} an incident that is {state.value} (only from: {allowed})")
    return transition.target
