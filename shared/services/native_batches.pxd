# C types for native_batches.py when setup.py compiles it with Cython (pure-Python mode:
# this file augments the .py of the same name; Python never reads it). Only the per-row
# locals are typed: the function stays byte for byte the Python one (docs/rating.md, 12).
import cython

# module constants the loop reads, as C values (Python does not see these names compiled)
cdef int _VOICE, _UNANSWERED, _SMS, _VOICE_ROUTE, _SMS_ROUTE
cdef long long _MS_PER_HOUR
cdef frozenset _PLAIN_DISPOSITIONS


@cython.locals(
    directions=dict, segments=dict, tenants=dict, talks=dict, hours_ms=dict,
    within_hour=dict, hours=dict, billed_texts=dict, plans=dict, heads=dict, costs=dict,
    out=list, raws=list, fields_list=list, fields=list, route=tuple,
    raw=str, call_id=str, tenant_text=str, account=str, service=str, direction_text=str,
    caller=str, callee=str, start_text=str, answer_text=str, end_text=str, billsec=str,
    disposition=str, quantity=str, encoding=str,
    keys=cython.longlong[:], contents=cython.longlong[:],
    mask=cython.longlong, filled=cython.longlong, room=cython.longlong,
    slot=cython.longlong, key=cython.longlong, found=cython.longlong,
    line_no=cython.longlong, start_ms=cython.longlong, at_ms=cython.longlong,
    billed=cython.longlong, latest=cython.longlong, max_extension=cython.longlong,
    step=cython.longlong, count=cython.longlong, talk_ms=cython.longlong,
    fast_rated=cython.longlong, fast_unanswered=cython.longlong,
    kind=cython.int, at=cython.Py_ssize_t,
    begin=cython.Py_ssize_t, index=cython.Py_ssize_t, count_rows=cython.Py_ssize_t,
    length=cython.Py_ssize_t, answered=cython.bint,
)
cpdef rate_native_batches(batches, rows, job, rated, rejects, seen=*)
