"""Events in: webhook receiver, SSE listener and poller feeding one durable, de-duplicated queue.

Every source turns what it receives into an :class:`InboundEvent` and ``put``s it into an
:class:`InboundQueue` (:class:`SQLiteQueue` by default); workers ``lease`` events from it,
``ack`` them when done and ``fail`` them to retry with backoff or dead-letter them.
"""

from ._event import EventSource, InboundEvent, InvalidEventError
from ._listener import AsyncSSEListener, ListenerStats, SSEListener
from ._poller import AsyncPoller, Poller
from ._queue import DeadLetter, InboundQueue, ItemState, Lease, QueueItem, QueueStats, SQLiteQueue
from ._receiver import WebhookReceiver

__all__ = [
    "AsyncPoller",
    "AsyncSSEListener",
    "DeadLetter",
    "EventSource",
    "InboundEvent",
    "InboundQueue",
    "InvalidEventError",
    "ItemState",
    "Lease",
    "ListenerStats",
    "Poller",
    "QueueItem",
    "QueueStats",
    "SQLiteQueue",
    "SSEListener",
    "WebhookReceiver",
]
