"""Quality and safety checks that read dialogues: crisis safety (risk detection, reply checks,
crisis resources) lives in :mod:`sweetiechat.quality.risk`, :mod:`~sweetiechat.quality.replies`
and :mod:`~sweetiechat.quality.resources`.

Importing this package is cheap: the MiniLM encoder loads on first use.
"""
