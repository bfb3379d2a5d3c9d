"""Resources for the close-up properties: each puts stored values on purpose where one rule of
R4 search (or of this server's storage) is decided, which the main property meets only now and
then: the `ap` tolerance, phonetic matching, and date ranges that span partitions.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import strategies as st

from tests.property.oracle import UCUM, date_interval
from tests.property.oracle_elements import maybe, put
from tests.property.oracle_resources import MEDICATION_REQUEST, OBSERVATION
from tests.property.strategies import DecimalText

# --- the ap tolerance, close up ----------------------------------------------------------------------
# In the main property, `ap` meets stored values near its tolerance only now and then. Here every
# resource lies at a chosen distance from the searched value: a share of the value for numbers, a
# share of the gap between now and the date for dates, on both sides of 10% (never on it).

AP_NUMBERS = ["100", "5.4", "250", "0.75", "-40", "1000.0", "12"]
AP_DATES = ["1970", "1971-02", "1990-06-15", "2020-03-15T10:00:00Z", "2021-01-01T00:00:00+02:00", "2024-06"]
AP_SHARES = [Decimal(x) for x in ("0", "0.01", "0.05", "0.09", "0.098", "0.102", "0.11", "0.15", "0.3")]


def _instant(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def near_ap(draw, number: str, date: str, now: datetime) -> dict:
    """An Observation whose valueQuantity lies a drawn share of `number` away from it (either side),
    and whose effective[x] (an instant, or a Period of two) a drawn share of the gap between now and
    `date` before the start or after the end of `date`'s range."""
    r = {"resourceType": "Observation", "status": "final", "code": {"text": "ap"}}
    share = draw(st.sampled_from(AP_SHARES)) * draw(st.sampled_from([1, -1]))
    value = (Decimal(number) * (1 + share)).quantize(Decimal("0.0001"))
    r["valueQuantity"] = {"value": DecimalText(str(value)), "unit": "mg", "system": UCUM, "code": "mg"}
    start, end = date_interval(date)
    gap = abs(now - start)

    def when() -> str:
        share = float(draw(st.sampled_from(AP_SHARES)))
        return _instant(start - gap * share if draw(st.booleans()) else end + gap * share)
    shape = draw(st.sampled_from(["instant", "instant", "period", "none"]))
    if shape == "instant":
        r["effectiveDateTime"] = when()
    elif shape == "period":
        a, b = sorted([when(), when()])
        r["effectivePeriod"] = {"start": a, "end": b}
    return r


# --- phonetic, close up -------------------------------------------------------------------------
# Names that sound alike under some encoders and not others (Soundex joins Jones and James,
# Metaphone joins Catherine and Kathryn), several parts and words to a name, a name with no
# family or given part; searched by names from the pool and spellings of them.

SOUND_NAMES = ["Smith", "Smyth", "Schmidt", "Jones", "James", "Catherine", "Kathryn", "Smith-Jones", "O'Brien",
               "Brian", "Meyer", "Maier", "Zoë", "Thompson"]
SOUND_QUERIES = [*SOUND_NAMES, "Smithe", "JONES", "katharine", "Obrien", "Tomson", "Mayer", "zoe", "Jo", "x"]


@st.composite
def sounding_patient(draw) -> dict:
    names = []
    for _ in range(draw(st.integers(0, 2))):
        n = {}
        put(n, "family", draw(maybe(st.sampled_from(SOUND_NAMES), 0.8)))
        put(n, "given", draw(st.lists(st.sampled_from(SOUND_NAMES), max_size=2)))
        names.append(n if n else {"prefix": ["Dr"]})
    return {"resourceType": "Patient", **({"name": names} if names else {})}


# --- partition filing, close up ------------------------------------------------------------------
# A range-valued partitioning date (an Encounter's period, an Observation's effective[x], a
# MedicationRequest's authoredOn at year or month precision) files its row under its last instant,
# and date searches prune months by that (searchparams/partitions.py). Here the ranges span months
# and years or are open at either end, and the searched dates fall inside, between and around them.

SPAN_DATES = ["2018", "2019-11", "2019-12-31", "2020-01-15T10:00:00Z", "2020-02", "2020-06-30T23:59:59Z", "2021",
              "2023-05-02"]
SPAN_QUERIES = [*SPAN_DATES, "2018-06-15", "2018-11", "2019", "2019-11-20", "2020-02-10", "2020-03", "2020-04-15",
                "2021-07", "2022", "2030", "1990-01-01"]
SPANNED = {
    "Encounter": lambda p: {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "period": p},
    "Observation": lambda p: {**OBSERVATION, "effectivePeriod": p},
    "MedicationRequest": lambda p: {**MEDICATION_REQUEST, "authoredOn": p.get("start") or p.get("end")},
}
