"""Ratings after a visit: `survey` asks on the clinic's scale and records the answer,
`scale` is what a score means on each scale, `followup` is the service recovery after a
low score (a task, «Обсудить с руководством», the managers pinged)."""
