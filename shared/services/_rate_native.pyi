"""Types of the optional compiled module built from _rate_native.pyx (see setup.py)."""

from collections.abc import Iterable

from shared.domain.summary import FileSummary
from shared.formats.native_cdr import NativeRows
from shared.formats.records import RecordBatch
from shared.ports import RejectSink
from shared.services.rate_file import CallIdSet, RatedTextSink, RatingJob

def rate_native_batches(
    batches: Iterable[RecordBatch],
    rows: NativeRows,
    job: RatingJob,
    rated: RatedTextSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary: ...
