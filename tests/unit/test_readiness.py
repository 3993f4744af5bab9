"""Readiness decisions: pure functions of observations and a given ``now``."""

from econnector.readiness import Stat, Timing, Track, Verdict, decide, observe, settled

T = Timing(settle=0.25, incomplete_timeout=10.0, orphan_timeout=60.0)
A = Stat(100, 1)
B = Stat(200, 2)


def test_observe_keeps_since_while_unchanged_and_resets_on_change() -> None:
    t1 = observe(None, A, 1.0)
    assert observe(t1, A, 5.0).since == 1.0
    assert observe(t1, B, 5.0) == Track(B, 5.0)
    # same size but a new mtime is a change (in-place rewrite of equal length)
    assert observe(t1, Stat(100, 9), 5.0).since == 5.0


def test_settled_needs_two_observations_settle_apart() -> None:
    t = observe(None, A, 1.0)
    assert not settled(t, 1.0, 0.25)
    assert not settled(t, 1.249, 0.25)
    assert settled(t, 1.25, 0.25)


def test_pdf_without_sidecar_waits_for_it_then_is_refused() -> None:
    d = decide(Track(A, 0), None, True, 59.0, T)
    assert d.verdict is Verdict.AWAITING_SIDECAR and d.recheck_at == 60.0
    assert decide(Track(A, 0), None, True, 60.0, T).verdict is Verdict.SIDECAR_MISSING
    # a PDF that was rewritten restarts its clock
    assert decide(Track(A, 50.0), None, True, 100.0, T).verdict is Verdict.AWAITING_SIDECAR


def test_settled_file_without_pdf_header_is_not_a_pdf_at_once_whatever_its_tail() -> None:
    for has_eof in (False, True):
        d = decide(Track(A, 0.0), Track(B, 0.0), has_eof, 1.0, T, pdf_has_header=False)
        assert d.verdict is Verdict.NOT_PDF
    # not yet settled: wait as for any file still being written
    assert decide(Track(A, 0.9), Track(B, 0.0), False, 1.0, T,
                  pdf_has_header=False).verdict is Verdict.WAIT_SETTLE
    # an empty file is not judged by its header (it may not be written yet)
    empty = Track(Stat(0, 1), 0.0)
    assert decide(empty, Track(B, 0.0), False, 1.0, T,
                  pdf_has_header=False).verdict is Verdict.AWAITING_EOF


def test_sidecar_without_pdf_waits_then_is_orphaned() -> None:
    side = Track(B, 0.0)
    d = decide(None, side, False, 59.0, T)
    assert d.verdict is Verdict.AWAITING_PDF and d.recheck_at == 60.0
    assert decide(None, side, False, 60.0, T).verdict is Verdict.ORPHANED


def test_pair_waits_for_the_most_recent_change_to_settle() -> None:
    d = decide(Track(A, 1.0), Track(B, 1.1), True, 1.2, T)
    assert d.verdict is Verdict.WAIT_SETTLE
    assert d.recheck_at == 1.1 + 0.25
    assert decide(Track(A, 1.0), Track(B, 1.1), True, 1.35, T).verdict is Verdict.READY


def test_settled_pdf_without_eof_waits_then_is_incomplete() -> None:
    d = decide(Track(A, 0.0), Track(B, 0.0), False, 5.0, T)
    assert d.verdict is Verdict.AWAITING_EOF and d.recheck_at == 10.0
    assert decide(Track(A, 0.0), Track(B, 0.0), False, 10.0, T).verdict is Verdict.INCOMPLETE


def test_eof_found_after_growth_makes_it_ready() -> None:
    # the writer appended the rest: a new stat restarts the settle clock
    pdf = observe(Track(A, 0.0), Stat(300, 3), 20.0)
    assert decide(pdf, Track(B, 0.0), True, 20.1, T).verdict is Verdict.WAIT_SETTLE
    assert decide(pdf, Track(B, 0.0), True, 20.3, T).verdict is Verdict.READY


def test_a_settled_pdf_without_eof_that_never_got_a_byte_is_empty() -> None:
    empty = Track(Stat(0, 1), 0.0)
    assert decide(empty, Track(B, 0.0), False, 10.0, T).verdict is Verdict.EMPTY


def test_a_bad_stem_is_ignored_alone_and_refused_as_a_settled_pair() -> None:
    # a lone file under a refused stem is never picked up, nor looked at again
    for pdf, side in ((Track(A, 0.0), None), (None, Track(B, 0.0))):
        d = decide(pdf, side, True, 1000.0, T, stem_ok=False)
        assert (d.verdict, d.recheck_at) == (Verdict.IGNORED, None)
    # a pair waits for its last change to settle, then is refused
    d = decide(Track(A, 1.0), Track(B, 1.1), True, 1.2, T, stem_ok=False)
    assert (d.verdict, d.recheck_at) == (Verdict.WAIT_SETTLE, 1.1 + 0.25)
    assert decide(Track(A, 1.0), Track(B, 1.1), False, 1.4, T,
                  stem_ok=False).verdict is Verdict.BAD_NAME


def test_a_link_or_fifo_in_the_pair_is_refused_once_settled_whatever_else() -> None:
    link = Track(Stat(10, 1, regular=False), 1.0)
    d = decide(link, Track(B, 0.0), False, 1.1, T, irregular=True)
    assert (d.verdict, d.recheck_at) == (Verdict.WAIT_SETTLE, 1.25)
    assert decide(link, None, False, 1.3, T, irregular=True).verdict is Verdict.NOT_REGULAR
    # judged before the stem: a link under a bad name is still a link
    assert decide(link, None, False, 1.3, T, stem_ok=False,
                  irregular=True).verdict is Verdict.NOT_REGULAR
