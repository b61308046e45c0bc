"""Events in: webhook receiver, SSE listener and poller feeding one durable, de-duplicated queue.

Every source turns what it receives into an :class:`InboundEvent` and ``put``s it into an
:class:`InboundQueue` (:class:`SQLiteQueue` by default); workers ``lease`` events from it,
``ack`` them when done and ``fail`` them to retry with backoff or dead-letter them. The same
message arriving by webhook, SSE and polling is enqueued once (its ``event_id`` is derived
from the message, not from the transport).

Cookbook::

    from agentmail_tools import MailClient
    from agentmail_tools.inbound import Poller, SQLiteQueue, SSEListener, WebhookReceiver

    queue = SQLiteQueue("inbound.db")

    # 1. Webhooks (public URL): an ASGI app, or receiver.handle(raw_body, headers) anywhere.
    receiver = WebhookReceiver(queue, secret=webhook.secret)

    # 2. Or an SSE stream (no public URL needed), resumed across restarts:
    listener = SSEListener(MailClient(), queue, mailbox_id=mailbox.id, state_path="sse.json")
    threading.Thread(target=listener.run, args=(stop,), daemon=True).start()

    # 3. Or polling, e.g. once at start-up to pick up what arrived while nothing listened:
    Poller(MailClient(), queue, mailbox.id, cursor_path="cursor.json").poll_once()

    # Workers, in as many threads or processes as you like:
    while (lease := queue.lease("worker-1", visibility_timeout=120)) is not None:
        try:
            handle(lease.event)
        except Exception as err:
            queue.fail(lease, err)  # retried with backoff; dead-lettered after 5 attempts
        else:
            queue.ack(lease)
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
