"""Asset checks of the extract assets: one blocking check per validation rule, plus a WARN check
on volume. Metadata carries counts, rule names and escaped `sourced_id`s, never a person's data."""

from __future__ import annotations

import dataclasses

import dagster as dg

from rostering_pipeline.validation import (
    GRADED,
    UNIQUE_SOURCED_ID,
    GradeVerdict,
    Verdict,
    VolumeVerdict,
    rules,
)

STRUCTURE = "structure"
VOLUME = "volume_change"
GRADE_VOCABULARY = "grade_vocabulary"


def _rule_checks(entity: str) -> list[str]:
    # Duplicate or missing sourced_ids are structural: they report under STRUCTURE.
    return [rule for rule in rules(entity) if rule != UNIQUE_SOURCED_ID]


def check_specs(key: dg.AssetKey, *, volume: bool) -> list[dg.AssetCheckSpec]:
    entity = key.path[-1]
    specs = [
        dg.AssetCheckSpec(
            STRUCTURE,
            asset=key,
            blocking=True,
            description="The pull has the contract's columns and types; sourced_ids present "
            "and unique.",
        )
    ]
    specs += [
        dg.AssetCheckSpec(
            rule,
            asset=key,
            blocking=True,
            description=f"Rule `{rule}`: failing rows under the quarantine ratio are held back "
            "(left as they were); above it the pull is refused.",
        )
        for rule in _rule_checks(entity)
    ]
    if volume:
        specs.append(
            dg.AssetCheckSpec(
                VOLUME,
                asset=key,
                blocking=False,
                description="WARN when the active count fell sharply against the last applied "
                "roster. Never blocks: the deactivation guard is the one gate.",
            )
        )
    if entity in GRADED:
        specs.append(
            dg.AssetCheckSpec(
                GRADE_VOCABULARY,
                asset=key,
                blocking=False,
                description="WARN when grades fall outside the CEDS codes (after mapping obvious "
                "variants such as `7` or `Kindergarten`): they are stored as sent. Never blocks.",
            )
        )
    return specs


def check_results(
    key: dg.AssetKey,
    verdict: Verdict,
    volume: VolumeVerdict | None,
    *,
    volume_checked: bool,
    grades: GradeVerdict | None = None,
) -> list[dg.AssetCheckResult]:
    """Every declared check gets a result; `volume` is None where the rule does not apply (a
    delta pull is not a whole roster); `grades` is given for the entities with grades."""
    results = [
        dg.AssetCheckResult(
            check_name=STRUCTURE,
            passed=not verdict.structural,
            metadata={
                "rows": dg.MetadataValue.int(verdict.rows),
                "structural_failures": dg.MetadataValue.int(len(verdict.structural)),
                "details": dg.MetadataValue.md(
                    verdict.markdown() if verdict.structural else "no structural failure"
                ),
            },
        )
    ]
    for rule in _rule_checks(verdict.entity):
        failures = tuple(f for f in verdict.failures if f.rule == rule)
        failing_rows = len({f.sourced_id for f in failures})
        only_this_rule = dataclasses.replace(verdict, failures=failures, structural=())
        results.append(
            dg.AssetCheckResult(
                check_name=rule,
                passed=verdict.passed or not failures,
                metadata={
                    "failing_rows": dg.MetadataValue.int(failing_rows),
                    "quarantined_rows": dg.MetadataValue.int(failing_rows if verdict.passed else 0),
                    "details": dg.MetadataValue.md(only_this_rule.markdown()),
                },
            )
        )
    if volume_checked and volume is None:
        results.append(
            dg.AssetCheckResult(
                check_name=VOLUME,
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                description="skipped: a delta pull holds only changes",
            )
        )
    elif volume_checked:
        results.append(
            dg.AssetCheckResult(
                check_name=VOLUME,
                passed=volume.ok,
                severity=dg.AssetCheckSeverity.WARN,
                description=volume.summary,
                metadata={
                    "previous": dg.MetadataValue.int(volume.previous or 0),
                    "current": dg.MetadataValue.int(volume.current),
                },
            )
        )
    if grades is not None:
        results.append(
            dg.AssetCheckResult(
                check_name=GRADE_VOCABULARY,
                passed=grades.ok,
                severity=dg.AssetCheckSeverity.WARN,
                description=grades.summary,
                metadata={
                    "rows_outside_ceds": dg.MetadataValue.int(grades.rows),
                    "distinct_grades_outside_ceds": dg.MetadataValue.int(grades.distinct),
                    "details": dg.MetadataValue.md(grades.markdown()),
                },
            )
        )
    return results
