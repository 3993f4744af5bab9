"""Hooks on drop transitions: whatever must follow a change of state subscribes here.

The pipeline calls :meth:`Listeners.notify` after every transition it commits
(the store first, so a listener never sees a state that is not durable), and
after a claim (``old`` is None, the event :attr:`Event.CLAIM`). A pair refused
at intake is claimed and rejected in one step: listeners hear its ``reject``
only, as the practice never sees it ``received``. The status files are the
first listener (:mod:`.statusfiles`); an audit trail, a heartbeat and tests
subscribe the same way, like dramatiq's middleware hooks.

Listeners run on the event loop, in the order they were added, and must not
block: anything slow goes to a thread (as the status files do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .states import Event, State
    from .statestore import Drop


class TransitionListener(Protocol):
    def on_transition(self, drop: Drop, old: State | None, event: Event) -> None:
        """``drop`` as committed after ``event``; ``old`` its state before (None: claimed)."""


class Listeners:
    """The registry the pipeline notifies on every transition."""

    def __init__(self, *listeners: TransitionListener) -> None:
        self._listeners: list[TransitionListener] = list(listeners)

    def add(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    def remove(self, listener: TransitionListener) -> None:
        self._listeners.remove(listener)

    def notify(self, drop: Drop, old: State | None, event: Event) -> None:
        for listener in list(self._listeners):
            listener.on_transition(drop, old, event)

    def __len__(self) -> int:
        return len(self._listeners)
