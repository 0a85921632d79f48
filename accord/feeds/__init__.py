"""Live radar feeds over NATS JetStream (docs/feeds.md).

:mod:`.scans` (the scan message and subjects, pure), :mod:`.jetstream` (connection, stream,
durable consumer), :mod:`.feed` (publish a detections file as a live feed), :mod:`.ingest` (the
durable consumer: tracker → predictions → alerts → items in the node), :mod:`.state` (its state,
committed with the items), :mod:`.watch` (subscribe to the warning events it publishes).
"""
