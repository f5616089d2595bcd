"""Webhooks through a transactional outbox.

``outbox`` decides, inside the writer's transaction, which events a batch of responses
makes (one per response and event type, only for agencies with an endpoint subscribed to
it); ``delivery`` is the loop of each process that posts them, signed as the Standard
Webhooks specification says (``signing``), at least once; ``endpoints`` is what the
``survey webhook`` commands do.
"""
