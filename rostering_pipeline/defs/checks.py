"""Asset checks of the extract assets: one blocking check per validation rule, plus a WARN check
on volume. Metadata carries counts, rule names and escaped `sourced_id`s, never a person's data."""

from __future__ import annotations

import dataclasses

import dagster as dg

from rostering_pipeline.validation import (
    GRADED,
    REFERENCES,
    UNIQUE_SOURCED_ID,
    GradeVerdict,
    Verdict,
    VolumeVerdict,
    rules,
)

STRUCTURE = "structure"
VOLUME = "volume_change"
GRADE_VOCABULARY = "grade_vocabulary"
ABSENT_REFERENCES = "references_into_absent_files"


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
    if entity in REFERENCES:
        specs.append(
            dg.AssetCheckSpec(
                ABSENT_REFERENCES,
                asset=key,
                blocking=False,
                description="WARN when rows refer to an entity whose file a CSV package marked "
                "absent and the app DB does not know the id: kept as sent, as real packages "
                "need. Never blocks.",
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
    absent_references: dict[str, int] | None = None,
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
    if verdict.entity in REFERENCES:
        results.append(_absent_references_result(absent_references or {}))
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


def _absent_references_result(unresolved: dict[str, int]) -> dg.AssetCheckResult:
    """`unresolved`: column -> rows whose reference into an absent file is unknown."""
    total = sum(unresolved.values())
    if not unresolved:
        summary = "no file of this run's source was marked absent"
    elif not total:
        summary = "every reference into an absent file is known to the app database"
    else:
        columns = ", ".join(f"{column}: {rows}" for column, rows in unresolved.items() if rows)
        summary = f"{total} references into absent files are unknown, kept as sent ({columns})"
    return dg.AssetCheckResult(
        check_name=ABSENT_REFERENCES,
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=summary,
        metadata={column: dg.MetadataValue.int(rows) for column, rows in unresolved.items()},
    )
