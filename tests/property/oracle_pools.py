"""The small value pools that both the stored resources and the search values draw from.

Small, so that searches hit; chosen to differ in the ways R4's matching rules care about:
names that differ only by case, accents or a prefix; codes with and without a system; dates
at every precision and in several time zones; quantities whose decimals differ only in
precision; tags, security labels, profiles, sources.
"""

from __future__ import annotations

from tests.property.oracle import UCUM

FAMILIES = ["Smith", "Smyth", "Ñandú", "Nandu", "O'Brien", "Smith, Jr", "van Dyke", "50%_off", "Back\\"]
GIVENS = ["Ann", "Anne", "Zoë", "Zoe", "Jo", "José"]
NAME_AFFIXES = ["Dr", "Mme", "PhD"]
NAME_TEXTS = ["Dr Ann Smith", "José Ñandú"]
LINES = ["12 Main St", "Rue du Lac 3", "Bahnhofstraße 1"]
CITIES = ["Zürich", "Zurich", "Boston", "São Paulo", "İzmir"]
STATES = ["ZH", "MA"]
POSTAL = ["8001", "80", "02134"]
COUNTRIES = ["CH", "US", "Schweiz"]

ID_SYSTEMS = ["http://a.test/id", "http://b.test/id"]
ID_VALUES = ["123", "ABC", "abc", "A|1", "1,2", "x$y", "y\\"]
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ID_TYPES = [("DL", "Driver's license"), ("PPN", "Passport")]
CP_VALUES = {"phone": ["555-1234", "555 1234"], "email": ["a@x.test", "A@x.test"]}

LOINC = "http://loinc.org"
OTHER_CS = "http://other.test/cs"
CODES = ["8480-6", "8462-4", "29463-7", "abc", "ABC"]
DISPLAYS = ["Systolic BP", "Diastolic BP", "Body weight", "Pression artérielle"]
CC_TEXTS = ["Blood pressure", "Weight", "Pression artérielle", "blood"]
CATEGORY_CS = "http://terminology.hl7.org/CodeSystem/observation-category"

TAG_POOL = "http://oracle.test/tags"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# No URI here is a string prefix of another without being a path prefix ('.../sd/a' and
# '.../sd/ab'): whether :below/:above work on characters or on path segments R4 leaves open.
PROFILES = ["http://oracle.test/sd/a", "http://oracle.test/sd/a/v2", "http://oracle.test/sd/b", "urn:oid:1.2.3"]
SOURCES = ["http://oracle.test/src/x", "http://oracle.test/src/x/y", "http://other.test/src"]
DATES = ["1970", "1970-06", "1970-06-15", "1970-06-16", "1971-02-03"]
DATE_TIMES = ["2020", "2020-03", "2020-03-15", "2020-03-16", "2020-03-15T10:00:00Z", "2020-03-15T10:00:00+02:00",
              "2020-03-15T23:30:00-05:00", "2020-03-16T00:00:00Z", "2020-03-15T10:00:00.250Z",
              "2021-01-01T00:00:00Z"]
INSTANTS = [d for d in DATE_TIMES if "T" in d]
DATE_QUERIES = ["1970", "1970-06", "1970-06-15", "1971", "2019", "2020", "2020-03", "2020-03-15", "2020-03-16",
                "2020-03-15T10:00", "2020-03-15T08:00Z", "2020-03-15T10:00:00Z", "2020-03-15T10:00:00.250Z",
                "2020-03-16T04:30:00Z", "2020-03-15T12:00:00+02:00", "2021"]
DATE_PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]

# Decimals keep their JSON text. No stored value lies on the edge of a searched value's implied
# range (e.g. 5.45 against 5.4), where R4 does not say whether the range is closed. Some lie just
# inside or outside 10% of a searched value (ap100: 91 and 109.9 are in, 89.9 and 111 out; ap5.4:
# 4.9 and 5.9 in, 6 out), and 0.3 in the implied range of 0 only.
QTY_VALUES = ["5.4", "5.40", "5.41", "100", "100.0", "1e2", "100.04", "99.6", "0", "-3",
              "91", "109.9", "89.9", "111", "4.9", "5.9", "6", "0.3"]
QTY_UNITS = [("mg", UCUM, "mg"), ("kg", UCUM, "kg"), ("mg", None, None), ("milligram", UCUM, "mg"),
             ("mg", "http://other.test/units", "mg")]
QTY_QUERIES = ["5.4", "5.40", "5", "100", "100.0", "99.6", "0", "0.0", "-3", "100.04"]
QTY_UNIT_QUERIES = [(), (UCUM, "mg"), ("", "mg"), (UCUM, "kg"), ("", "milligram")]
NUMBER_PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]

# The clinical types (tests/property/oracle_clinical.py): R4's own code systems of their statuses and
# categories, several with a hierarchy (:below/:above have concepts over and under the stored ones).
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
# Age (age-1): a positive value, a UCUM unit of time; the searched numbers and units below.
AGE_VALUES = ["5", "5.0", "40", "40.5", "65"]
AGE_UNITS = [("a", UCUM, "a"), ("years", UCUM, "a"), ("mo", UCUM, "mo")]
AGE_QUERIES = ["5", "5.0", "40", "41", "65", "6"]
AGE_UNIT_QUERIES = [(), (UCUM, "a"), ("", "a"), ("", "years"), (UCUM, "mo")]
ONSET_TEXTS = ["childhood", "Childhood asthma", "après l'école"]
LOT_NUMBERS = ["AB12", "ab12-x", "Lot 7", "Löt"]
SERIES = ["Primary", "primary booster", "Rappel"]
DESCRIPTIONS = ["Discharge summary", "discharge", "Résumé", "Lab report"]
# Uris of attachments and instantiated protocols, path prefixes of one another (see PROFILES).
DOC_URLS = ["http://oracle.test/doc/a", "http://oracle.test/doc/a/b", "http://other.test/doc", "urn:oid:1.2.3.4"]
MIME_TYPES = ["text/plain", "application/pdf", "image/png"]
LANGUAGES = ["en", "fr", "de-CH"]
