"""Errors of the swarm wing (all ``wire.errors`` classes, so every door maps them the same way)."""

from __future__ import annotations

from wire.errors import Conflict, Unavailable


class DownloadFailed(Unavailable):
    """A download gave up; ``reason`` is one line for ``show_downloads`` (``[F] ... <reason>``)."""

    code = "download_failed"

    @property
    def reason(self) -> str:
        return self.message


class CorruptSources(DownloadFailed):
    """Every peer that had the rest sent pieces that failed their hash (their copy changed since it was shared):
    waiting for them to be back would only fetch the same bad bytes, so nothing resumes by itself."""

    code = "corrupt_sources"


class PartialFileGone(Conflict):
    """The download's partial file was deleted (or its folder) or cut short while it ran: nothing written so far
    is left, or can be trusted, so the download starts afresh."""

    code = "partial_file_gone"
