"""OneRoster 1.1 enumerations and CEDS grade codes, and how a provider's spelling maps onto them.

Shared by the normalizer (which stores the canonical spelling) and the pandera models (which
check it). Real servers send enumerations in any case ("Teacher", "SchoolYear") and grades
outside CEDS ("7", "Grade 7", "Kindergarten", "6 ano - Portugues"): the spec says *should*.
"""

from __future__ import annotations

import functools
import re

STATUSES = ("active", "tobedeleted")
ORG_TYPES = ("department", "district", "local", "national", "school", "state")
SESSION_TYPES = ("gradingPeriod", "semester", "schoolYear", "term")
CLASS_TYPES = ("homeroom", "scheduled")
USER_ROLES = (
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
)
# The spec lists administrator, proctor, student and teacher; providers send any user role
# (ONEROSTER's notes on real servers), and the four are user roles too.
ENROLLMENT_ROLES = USER_ROLES
GRADE_CODES = (
    "IT",
    "PR",
    "PK",
    "TK",
    "KG",
    *(f"{n:02d}" for n in range(1, 14)),
    "PS",
    "UG",
    "Other",
)
CEDS_GRADES = frozenset(GRADE_CODES)
_CEDS = "|".join(GRADE_CODES)
# A compact JSON list of CEDS codes ('[]', '["09"]', '["KG","01"]'): a page is checked at once.
CEDS_LIST_PATTERN = rf'^\[(?:"(?:{_CEDS})"(?:,"(?:{_CEDS})")*)?\]$'


def canonical_spellings(vocabulary: tuple[str, ...]) -> dict[str, str]:
    """Case-folded value -> the spelling the spec gives it."""
    return {value.casefold(): value for value in vocabulary}


_CODES_BY_CASE = canonical_spellings(GRADE_CODES)
# Words for the early grades that US SIS exports use instead of the codes.
_GRADE_WORDS = {
    "k": "KG",
    "kinder": "KG",
    "kindergarten": "KG",
    "prek": "PK",
    "pre-k": "PK",
    "prekindergarten": "PK",
    "pre-kindergarten": "PK",
    "transitional kindergarten": "TK",
}
# "7", "07", "Grade 7", "grade 07", "7th", "7th grade", "Gr. 7": US grades 1 to 13.
_NUMBERED = re.compile(
    r"(?:(?:grade|gr\.?)\s*)?0*(\d{1,2})(?:st|nd|rd|th)?(?:\s*grade)?", re.IGNORECASE
)


@functools.lru_cache(maxsize=4096)
def ceds_grade(sent: str) -> str | None:
    """The CEDS code a provider's grade stands for, or None when it is no obvious variant (then
    it is stored as sent). "Year 7" is not mapped: UK and NZ years are not US grades."""
    text = sent.strip()
    folded = " ".join(text.casefold().split())
    if folded in _CODES_BY_CASE:
        return _CODES_BY_CASE[folded]
    word = _GRADE_WORDS.get(folded.removeprefix("grade ").strip())
    if word:
        return word
    numbered = _NUMBERED.fullmatch(text)
    if numbered:
        number = int(numbered.group(1))
        if number == 0:
            return "KG"
        if 1 <= number <= 13:
            return f"{number:02d}"
    return None
