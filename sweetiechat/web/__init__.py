"""The human-evaluation web app (the ``web`` extra): pairwise and dataset-rating tasks, a chat page.

Everything lives in one SQLite file (:mod:`sweetiechat.web.store`, stdlib ``sqlite3``). The
FastAPI app (:mod:`sweetiechat.web.app`) imports FastAPI only when it is built, so importing
this package stays light. Install with ``pip install 'sweetiechat[web]'``.
"""

from __future__ import annotations

from sweetiechat.web.dims import DATASET_DIMENSIONS, PAIRWISE_DIMENSIONS

__all__ = ["DATASET_DIMENSIONS", "PAIRWISE_DIMENSIONS"]
