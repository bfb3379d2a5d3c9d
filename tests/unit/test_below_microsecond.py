"""A search date finer than a microsecond: its bounds rounded both ways (fhirtime.below_microsecond)."""

from datetime import datetime, timedelta, timezone

from fhirserver.fhirtime import below_microsecond

T = datetime(2016, 2, 1, 12, 0, 15, 500000, tzinfo=timezone.utc)
US = timedelta(microseconds=1)


def test_a_value_inside_a_microsecond_rounds_apart():
    assert below_microsecond("2016-02-01T12:00:15.5000001Z") == (T, T + US, T, T + US)


def test_a_value_on_a_microsecond_keeps_its_start():
    assert below_microsecond("2016-02-01T12:00:15.5000000Z") == (T, T, T, T + US)


def test_a_value_ending_on_a_microsecond_keeps_its_end():
    assert below_microsecond("2016-02-01T12:00:15.4999999Z") == (T - US, T, T, T)


def test_six_digits_or_fewer_are_exact_already():
    assert below_microsecond("2016-02-01T12:00:15.500000Z") is None
    assert below_microsecond("2016-02-01") is None
